/* Haversine distance and coordinate validation. */
#include "delivery-geo.h"

#include <math.h>

static double radians(double deg) {
        return deg * (M_PI / 180.0);
}

bool geo_valid(double lat, double lon) {
        return isfinite(lat) && isfinite(lon) && lat >= -90.0 && lat <= 90.0 && lon >= -180.0 && lon <= 180.0;
}

double geo_distance_m(double lat1, double lon1, double lat2, double lon2) {
        double dlat = radians(lat2 - lat1), dlon = radians(lon2 - lon1);
        double a = sin(dlat / 2) * sin(dlat / 2) + cos(radians(lat1)) * cos(radians(lat2)) * sin(dlon / 2) * sin(dlon / 2);
        /* Rounding can push a a hair above 1 for antipodal points: clamp before the square root. */
        if (a > 1.0)
                a = 1.0;
        return 2.0 * GEO_EARTH_RADIUS_M * atan2(sqrt(a), sqrt(1.0 - a));
}

bool geo_within(double lat1, double lon1, double lat2, double lon2, double radius_m) {
        return geo_distance_m(lat1, lon1, lat2, lon2) <= radius_m;
}
