/* Unit test of the geometry helpers against known distances. */
#include <math.h>
#include <stdio.h>

#include "delivery-geo.h"
#include "test-check.h"

typedef struct {
        const char *what;
        double lat1, lon1, lat2, lon2;
        double expect_m, tolerance_m;
} DistanceCase;

/* Expected values worked out independently with the spherical law of cosines (R = 6371.0088 km). */
static const DistanceCase distances[] = {
        {"same point", 37.4979, 127.0276, 37.4979, 127.0276, 0.0, 0.001},
        {"one degree of latitude", 0.0, 0.0, 1.0, 0.0, 111195.08, 1.0},
        {"one degree of longitude at the equator", 0.0, 0.0, 0.0, 1.0, 111195.08, 1.0},
        {"one degree of longitude at 60N is about half", 60.0, 0.0, 60.0, 1.0, 55597.01, 0.5},
        {"Gangnam station to Seoul City Hall", 37.4979, 127.0276, 37.5663, 126.9779, 8778.02, 0.5},
        {"Seoul to Busan", 37.5665, 126.9780, 35.1796, 129.0756, 325111.71, 1.0},
        {"across the antimeridian", 0.0, 179.5, 0.0, -179.5, 111195.08, 1.0},
        {"pole to pole", 90.0, 0.0, -90.0, 0.0, M_PI * GEO_EARTH_RADIUS_M, 1.0},
        {"antipodes", 0.0, 0.0, 0.0, 180.0, M_PI * GEO_EARTH_RADIUS_M, 1.0},
};

static void test_distances(void) {
        for (size_t i = 0; i < sizeof(distances) / sizeof(distances[0]); i++) {
                const DistanceCase *c = &distances[i];
                double d = geo_distance_m(c->lat1, c->lon1, c->lat2, c->lon2);
                double back = geo_distance_m(c->lat2, c->lon2, c->lat1, c->lon1);
                CHECK(fabs(d - c->expect_m) <= c->tolerance_m, "%s: expected %.2f m (+-%.2f), got %.2f m", c->what,
                      c->expect_m, c->tolerance_m, d);
                CHECK(fabs(d - back) < 1e-6, "%s: expected symmetric distance, got %.6f and %.6f", c->what, d, back);
                CHECK(!isnan(d), "%s: expected a number, got NaN", c->what);
        }
}

static void test_within(void) {
        /* Gangnam station and Yeoksam station: 832.3 m apart. */
        double a_lat = 37.4979, a_lon = 127.0276, b_lat = 37.5006, b_lon = 127.0364;
        double d = geo_distance_m(a_lat, a_lon, b_lat, b_lon);
        CHECK(fabs(d - 832.35) < 0.5, "Gangnam-Yeoksam: expected 832.35 m, got %.2f", d);
        CHECK(geo_within(a_lat, a_lon, b_lat, b_lon, 1000), "within 1000 m: expected true for %.1f m", d);
        CHECK(!geo_within(a_lat, a_lon, b_lat, b_lon, 500), "within 500 m: expected false for %.1f m", d);
        CHECK(geo_within(a_lat, a_lon, a_lat, a_lon, 0), "same point within 0 m: expected true");
}

static void test_valid(void) {
        CHECK(geo_valid(37.5, 127.0), "Seoul: expected valid");
        CHECK(geo_valid(-90, -180) && geo_valid(90, 180), "extremes: expected valid");
        CHECK(!geo_valid(90.0001, 0), "lat 90.0001: expected invalid");
        CHECK(!geo_valid(0, -180.0001), "lon -180.0001: expected invalid");
        CHECK(!geo_valid(NAN, 0) && !geo_valid(0, NAN), "NaN: expected invalid");
        CHECK(!geo_valid(INFINITY, 0), "infinity: expected invalid");
}

int main(void) {
        test_distances();
        test_within();
        test_valid();
        if (failures) {
                printf("%d check(s) failed\n", failures);
                return 1;
        }
        printf("ok\n");
        return 0;
}
