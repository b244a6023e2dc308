/* Earth geometry for rider matching: coordinate checks and great-circle (haversine) distances. */
#pragma once
#include <stdbool.h>

#define GEO_EARTH_RADIUS_M 6371008.8 /* mean Earth radius (IUGG) */

/* True when lat is within [-90, 90] and lon within [-180, 180] (finite numbers). */
bool geo_valid(double lat, double lon);

/* Great-circle distance in metres between two valid points (haversine formula; accurate to about
 * 0.5% on the Earth's ellipsoid, far below what rider matching needs). */
double geo_distance_m(double lat1, double lon1, double lat2, double lon2);

/* True when the two valid points are at most radius_m (>= 0) apart. */
bool geo_within(double lat1, double lon1, double lat2, double lon2, double radius_m);
