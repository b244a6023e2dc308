-- Version 2 of the catalog once seeded the demo stores. They moved to demo-catalog.sql, seeded apart from the
-- migrations only when DEMO_CATALOG is true (lib/service.h), so that a production catalog starts empty. The
-- version stays, empty, so that every database's schema_migrations keeps meaning the same thing: those that
-- ran it have the demo stores (and keep them), fresh ones get them from the seed or not at all.
SELECT 1;
