//! Points on the Earth and distances between them, for "services near this patient".

use crate::validation::FieldError;

/// Mean radius of the Earth in kilometres (IUGG), as the haversine formula uses it.
pub const EARTH_RADIUS_KM: f64 = 6371.0088;
/// The largest search radius accepted.
pub const MAX_WITHIN_KM: f64 = 200.0;

/// A WGS 84 latitude and longitude in degrees.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GeoPoint {
    latitude: f64,
    longitude: f64,
}

impl GeoPoint {
    pub fn new(latitude: f64, longitude: f64) -> Result<Self, FieldError> {
        if !latitude.is_finite() || !(-90.0..=90.0).contains(&latitude) {
            return Err(FieldError::new(
                "out_of_range",
                "latitude must be between -90 and 90",
            ));
        }
        if !longitude.is_finite() || !(-180.0..=180.0).contains(&longitude) {
            return Err(FieldError::new(
                "out_of_range",
                "longitude must be between -180 and 180",
            ));
        }
        Ok(Self {
            latitude,
            longitude,
        })
    }

    /// Parses `lat,lng`, as in the `near` query parameter.
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        let invalid = || {
            FieldError::new(
                "invalid_format",
                "must be `latitude,longitude` in decimal degrees",
            )
        };
        let (lat, lng) = raw.split_once(',').ok_or_else(invalid)?;
        let lat: f64 = lat.trim().parse().map_err(|_| invalid())?;
        let lng: f64 = lng.trim().parse().map_err(|_| invalid())?;
        Self::new(lat, lng)
    }

    pub fn latitude(&self) -> f64 {
        self.latitude
    }

    pub fn longitude(&self) -> f64 {
        self.longitude
    }

    /// Great-circle distance by the haversine formula (the SQL in persistence computes the same).
    pub fn distance_km(&self, other: &GeoPoint) -> f64 {
        let (lat1, lat2) = (self.latitude.to_radians(), other.latitude.to_radians());
        let dlat = lat2 - lat1;
        let dlng = (other.longitude - self.longitude).to_radians();
        let a = (dlat / 2.0).sin().powi(2) + lat1.cos() * lat2.cos() * (dlng / 2.0).sin().powi(2);
        2.0 * EARTH_RADIUS_KM * a.sqrt().min(1.0).asin()
    }

    /// A latitude/longitude box that contains every point within `km`, so an index can narrow
    /// the candidates before exact distances are computed.
    pub fn bounding_box(&self, km: f64) -> BoundingBox {
        // The angular radius; the widest longitude of a circle of that radius is
        // asin(sin r / cos lat), not r / cos lat, which falls short far from the equator. A
        // circle that reaches a pole spans every longitude.
        let radius = km / EARTH_RADIUS_KM;
        let dlat = radius.to_degrees();
        let lat = self.latitude.to_radians();
        let dlng = if lat.abs() + radius >= std::f64::consts::FRAC_PI_2 {
            180.0
        } else {
            (radius.sin() / lat.cos()).min(1.0).asin().to_degrees()
        };
        BoundingBox {
            min_latitude: (self.latitude - dlat).max(-90.0),
            max_latitude: (self.latitude + dlat).min(90.0),
            min_longitude: self.longitude - dlng,
            max_longitude: self.longitude + dlng,
        }
    }
}

/// Longitudes may run past ±180 near the antimeridian; the box is then wider than needed, never
/// narrower, and the exact distance check decides.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BoundingBox {
    pub min_latitude: f64,
    pub max_latitude: f64,
    pub min_longitude: f64,
    pub max_longitude: f64,
}

/// Parses a search radius in kilometres: positive and at most [`MAX_WITHIN_KM`].
pub fn parse_within_km(raw: f64) -> Result<f64, FieldError> {
    if raw.is_finite() && raw > 0.0 && raw <= MAX_WITHIN_KM {
        Ok(raw)
    } else {
        Err(FieldError::new(
            "out_of_range",
            format!("within_km must be more than 0 and at most {MAX_WITHIN_KM}"),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn loughborough_to_leicester_is_about_sixteen_km() {
        let loughborough = GeoPoint::new(52.7721, -1.2062).unwrap();
        let leicester = GeoPoint::new(52.6369, -1.1398).unwrap();
        let d = loughborough.distance_km(&leicester);
        assert!((15.5..16.0).contains(&d), "{d}");
    }

    #[test]
    fn parsing_checks_shape_and_range() {
        assert_eq!(
            GeoPoint::parse(" 52.77 , -1.2 ").unwrap(),
            GeoPoint::new(52.77, -1.2).unwrap()
        );
        for bad in ["", "52.77", "a,b", "91,0", "0,181", "NaN,0", "52,1,2"] {
            assert!(GeoPoint::parse(bad).is_err(), "{bad:?}");
        }
        assert!(parse_within_km(0.0).is_err());
        assert!(parse_within_km(201.0).is_err());
        assert_eq!(parse_within_km(5.0).unwrap(), 5.0);
    }

    proptest! {
        #[test]
        fn the_bounding_box_contains_every_point_within_the_radius(
            lat in -85.0f64..85.0, lng in -179.0f64..179.0, km in 0.1f64..200.0,
            bearing in 0.0f64..360.0, fraction in 0.0f64..1.0,
        ) {
            let origin = GeoPoint::new(lat, lng).unwrap();
            // A point `fraction * km` away along `bearing` (spherical destination formula).
            let d = fraction * km / EARTH_RADIUS_KM;
            let (lat1, lng1, b) = (lat.to_radians(), lng.to_radians(), bearing.to_radians());
            let lat2 = (lat1.sin() * d.cos() + lat1.cos() * d.sin() * b.cos()).asin();
            let lng2 = lng1 + (b.sin() * d.sin() * lat1.cos()).atan2(d.cos() - lat1.sin() * lat2.sin());
            let (lat2, lng2) = (lat2.to_degrees(), lng2.to_degrees());
            let bbox = origin.bounding_box(km);
            prop_assert!(lat2 >= bbox.min_latitude - 1e-9 && lat2 <= bbox.max_latitude + 1e-9);
            prop_assert!(lng2 >= bbox.min_longitude - 1e-9 && lng2 <= bbox.max_longitude + 1e-9);
        }
    }
}
