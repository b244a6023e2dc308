-- Each store's thank-you message, sent to the customer when an order completes (F16).
ALTER TABLE catalog.stores ADD COLUMN thank_you text NOT NULL DEFAULT '';
UPDATE catalog.stores SET thank_you = name || U&': \AC10\C0AC\D569\B2C8\B2E4! \B610 \C774\C6A9\D574 \C8FC\C138\C694. (Thank you from ' || name_en || ', see you again!)';
