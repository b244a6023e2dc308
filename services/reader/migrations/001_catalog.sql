-- Catalog of the gateway: stores with their location and their menus (F1).
-- Prices are integer KRW and only ever read from here, never from a client.
CREATE TABLE catalog.stores (
        id text PRIMARY KEY CHECK (id ~ '^[A-Za-z0-9_.:@-]{1,64}$'),
        name text NOT NULL CHECK (octet_length(name) BETWEEN 1 AND 255),
        name_en text NOT NULL DEFAULT '' CHECK (octet_length(name_en) <= 255),
        region text NOT NULL CHECK (region ~ '^[a-z0-9_-]{1,64}$'),
        lat float8 NOT NULL CHECK (lat BETWEEN -90 AND 90),
        lon float8 NOT NULL CHECK (lon BETWEEN -180 AND 180)
);
CREATE INDEX stores_region ON catalog.stores (region);

CREATE TABLE catalog.menu_items (
        id text PRIMARY KEY CHECK (id ~ '^[A-Za-z0-9_.:@-]{1,64}$'),
        store_id text NOT NULL REFERENCES catalog.stores (id),
        name text NOT NULL CHECK (octet_length(name) BETWEEN 1 AND 255),
        name_en text NOT NULL DEFAULT '' CHECK (octet_length(name_en) <= 255),
        price bigint NOT NULL CHECK (price BETWEEN 0 AND 10000000),
        available boolean NOT NULL DEFAULT true,
        position int NOT NULL DEFAULT 0
);
CREATE INDEX menu_items_store ON catalog.menu_items (store_id, position);
