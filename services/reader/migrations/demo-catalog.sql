-- The demo catalog: six stores in three Seoul regions, each with a short menu (KRW), for local mode, the
-- tests and a demo install. Not a migration (no version): seeded after the catalog's migrations by the
-- reader (MIGRATIONS=apply) or by food-migrate, when DEMO_CATALOG is true (its default), and only into a
-- catalog without any store, so that it runs any number of times, never mixes with a real catalog and never
-- brings back a demo store someone deleted. Concurrent seeders: ON CONFLICT keeps the second one's rows out.
-- Korean names are U&'' escapes (e.g. U&'\B5A1\BCF6\C774' = tteokbokki), readable in any editor.
DO $demo$
BEGIN
        IF EXISTS (SELECT 1 FROM catalog.stores) THEN
                RETURN;
        END IF;
        INSERT INTO catalog.stores (id, name, name_en, region, lat, lon) VALUES
                ('st_gangnam_bibimbap', U&'\AC15\B0A8 \BE44\BE54\BC25\C9D1', 'Gangnam Bibimbap House', 'gangnam', 37.4979, 127.0276),
                ('st_yeoksam_chicken', U&'\C5ED\C0BC \CE58\D0A8', 'Yeoksam Fried Chicken', 'gangnam', 37.5006, 127.0366),
                ('st_mapo_galbi', U&'\B9C8\D3EC \C22F\BD88\AC08\BE44', 'Mapo Charcoal Galbi', 'mapo', 37.5395, 126.9460),
                ('st_hongdae_tteokbokki', U&'\D64D\B300 \B5A1\BCF6\C774', 'Hongdae Tteokbokki', 'mapo', 37.5563, 126.9236),
                ('st_jongno_gukbap', U&'\C885\B85C \AD6D\BC25', 'Jongno Gukbap', 'jongno', 37.5704, 126.9921),
                ('st_insadong_mandu', U&'\C778\C0AC\B3D9 \B9CC\B450', 'Insadong Dumplings', 'jongno', 37.5740, 126.9856)
        ON CONFLICT (id) DO NOTHING;

        INSERT INTO catalog.menu_items (id, store_id, name, name_en, price, available, position) VALUES
                ('mi_dolsot_bibimbap', 'st_gangnam_bibimbap', U&'\B3CC\C1A5\BE44\BE54\BC25', 'Stone Pot Bibimbap', 11000, true, 1),
                ('mi_bulgogi_bibimbap', 'st_gangnam_bibimbap', U&'\BD88\ACE0\AE30 \BE44\BE54\BC25', 'Bulgogi Bibimbap', 12000, true, 2),
                ('mi_doenjang_jjigae', 'st_gangnam_bibimbap', U&'\B41C\C7A5\CC0C\AC1C', 'Soybean Paste Stew', 9000, true, 3),
                ('mi_haemul_pajeon', 'st_gangnam_bibimbap', U&'\D574\BB3C\D30C\C804', 'Seafood Pancake', 15000, false, 4),

                ('mi_fried_chicken', 'st_yeoksam_chicken', U&'\D6C4\B77C\C774\B4DC \CE58\D0A8', 'Fried Chicken', 19000, true, 1),
                ('mi_yangnyeom_chicken', 'st_yeoksam_chicken', U&'\C591\B150 \CE58\D0A8', 'Sweet Spicy Chicken', 21000, true, 2),
                ('mi_soy_garlic_chicken', 'st_yeoksam_chicken', U&'\AC04\C7A5\B9C8\B298 \CE58\D0A8', 'Soy Garlic Chicken', 21000, true, 3),
                ('mi_chicken_radish', 'st_yeoksam_chicken', U&'\CE58\D0A8\BB34', 'Pickled Radish', 500, true, 4),
                ('mi_cola', 'st_yeoksam_chicken', U&'\CF5C\B77C 1.25L', 'Cola 1.25L', 2500, true, 5),

                ('mi_dwaeji_galbi', 'st_mapo_galbi', U&'\B3FC\C9C0\AC08\BE44 (2\C778\BD84)', 'Pork Galbi (for two)', 32000, true, 1),
                ('mi_so_galbi', 'st_mapo_galbi', U&'\C18C\AC08\BE44 (2\C778\BD84)', 'Beef Galbi (for two)', 58000, true, 2),
                ('mi_naengmyeon', 'st_mapo_galbi', U&'\BB3C\B0C9\BA74', 'Cold Buckwheat Noodles', 10000, true, 3),
                ('mi_gyeran_jjim', 'st_mapo_galbi', U&'\ACC4\B780\CC1C', 'Steamed Egg', 4000, true, 4),

                ('mi_tteokbokki', 'st_hongdae_tteokbokki', U&'\B5A1\BCF6\C774', 'Spicy Rice Cakes', 5000, true, 1),
                ('mi_rabokki', 'st_hongdae_tteokbokki', U&'\B77C\BCF6\C774', 'Ramen Tteokbokki', 6500, true, 2),
                ('mi_twigim_set', 'st_hongdae_tteokbokki', U&'\BAA8\B460\D280\AE40', 'Assorted Fritters', 5500, true, 3),
                ('mi_sundae', 'st_hongdae_tteokbokki', U&'\C21C\B300', 'Korean Blood Sausage', 5000, true, 4),

                ('mi_sundae_gukbap', 'st_jongno_gukbap', U&'\C21C\B300\AD6D\BC25', 'Sundae Rice Soup', 9000, true, 1),
                ('mi_dwaeji_gukbap', 'st_jongno_gukbap', U&'\B3FC\C9C0\AD6D\BC25', 'Pork Rice Soup', 9500, true, 2),
                ('mi_suyuk', 'st_jongno_gukbap', U&'\C218\C721 (\C18C)', 'Boiled Pork Slices (small)', 18000, true, 3),

                ('mi_gogi_mandu', 'st_insadong_mandu', U&'\ACE0\AE30\B9CC\B450', 'Meat Dumplings', 7000, true, 1),
                ('mi_kimchi_mandu', 'st_insadong_mandu', U&'\AE40\CE58\B9CC\B450', 'Kimchi Dumplings', 7000, true, 2),
                ('mi_manduguk', 'st_insadong_mandu', U&'\B9CC\B463\AD6D', 'Dumpling Soup', 9000, true, 3),
                ('mi_kalguksu', 'st_insadong_mandu', U&'\CE7C\AD6D\C218', 'Knife-cut Noodle Soup', 9000, true, 4)
        ON CONFLICT (id) DO NOTHING;

        -- As 003_thank_you.sql words it for the stores it found.
        UPDATE catalog.stores
        SET thank_you = name || U&': \AC10\C0AC\D569\B2C8\B2E4! \B610 \C774\C6A9\D574 \C8FC\C138\C694. (Thank you from ' || name_en || ', see you again!)'
        WHERE thank_you = '';
END
$demo$;
