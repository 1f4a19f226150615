//! Exact geometry on the unit sphere: the one implementation behind every ADQL region function.
//!
//! Positions are unit vectors (no trigonometry in the inner loops), angles are radians, and
//! polygon edges are great-circle arcs shorter than 180 degrees. Separations use
//! `atan2(|a x b|, a . b)`, which keeps full relative precision for tiny angles and near 180
//! degrees, and cross products of nearby vectors use `(b + a) x (b - a) = 2 a x b`, which avoids
//! the cancellation of the direct formula (as S2's `RobustCrossProd`).
//!
//! A polygon is the *smaller* of the two regions its edges bound (area at most 2 pi sr), so the
//! winding order of the vertices does not matter; internally the vertices are stored
//! counter-clockwise (interior to the left when walking the edges, seen from outside the
//! sphere), which makes edge normals point inwards.

use std::f64::consts::PI;

/// A 3-vector.
pub(crate) type V3 = [f64; 3];

/// Points closer than this to an edge, or than this apart, count as on it (about 2e-10 arcsec).
const EPS: f64 = 1e-15;

pub(crate) fn dot(a: V3, b: V3) -> f64 {
    a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
}

pub(crate) fn cross(a: V3, b: V3) -> V3 {
    [
        a[1] * b[2] - a[2] * b[1],
        a[2] * b[0] - a[0] * b[2],
        a[0] * b[1] - a[1] * b[0],
    ]
}

fn add(a: V3, b: V3) -> V3 {
    [a[0] + b[0], a[1] + b[1], a[2] + b[2]]
}

fn sub(a: V3, b: V3) -> V3 {
    [a[0] - b[0], a[1] - b[1], a[2] - b[2]]
}

pub(crate) fn scale(a: V3, s: f64) -> V3 {
    [a[0] * s, a[1] * s, a[2] * s]
}

pub(crate) fn norm(a: V3) -> f64 {
    a[0].hypot(a[1]).hypot(a[2])
}

fn neg(a: V3) -> V3 {
    [-a[0], -a[1], -a[2]]
}

/// `a / |a|`, or `None` for the zero vector.
pub(crate) fn normalize(a: V3) -> Option<V3> {
    let n = norm(a);
    (n > 0.0 && n.is_finite()).then(|| scale(a, 1.0 / n))
}

/// `2 a x b` computed without cancellation for nearby `a`, `b`.
fn robust_cross(a: V3, b: V3) -> V3 {
    cross(add(b, a), sub(b, a))
}

/// The unit vector of (lon, lat) in degrees.
pub(crate) fn unit(lon_deg: f64, lat_deg: f64) -> V3 {
    let (sl, cl) = lon_deg.to_radians().sin_cos();
    let (sb, cb) = lat_deg.to_radians().sin_cos();
    [cb * cl, cb * sl, sb]
}

/// (lon, lat) in degrees of a (not necessarily unit) vector; lon in [0, 360).
pub(crate) fn lonlat(v: V3) -> (f64, f64) {
    let lat = v[2].atan2(v[0].hypot(v[1])).to_degrees();
    let mut lon = v[1].atan2(v[0]).to_degrees();
    if lon < 0.0 {
        lon += 360.0;
    }
    if lon >= 360.0 {
        lon -= 360.0;
    }
    (lon, lat)
}

/// The angle between two vectors, radians, accurate for tiny and near-antipodal separations.
pub(crate) fn angle(a: V3, b: V3) -> f64 {
    norm(cross(a, b)).atan2(dot(a, b))
}

/// Checks a longitude/latitude pair in degrees.
pub(crate) fn check_lonlat(lon: f64, lat: f64) -> Result<(), String> {
    if !lon.is_finite() || !lat.is_finite() {
        return Err(format!("coordinates ({lon}, {lat}) are not finite"));
    }
    if !(-90.0..=90.0).contains(&lat) {
        return Err(format!("latitude {lat} is outside [-90, 90] degrees"));
    }
    Ok(())
}

/// Checks a circle radius in degrees: 0 to 180 inclusive.
pub(crate) fn check_radius(r: f64) -> Result<(), String> {
    if !(0.0..=180.0).contains(&r) {
        return Err(format!("radius {r} is outside [0, 180] degrees"));
    }
    Ok(())
}

/// A spherical cap: centre and radius in radians.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Cap {
    pub(crate) c: V3,
    pub(crate) r: f64,
}

impl Cap {
    pub(crate) fn contains(&self, p: V3) -> bool {
        angle(self.c, p) <= self.r
    }

    /// Area in steradians, `2 pi (1 - cos r)` written as `4 pi sin^2(r / 2)` for small r.
    pub(crate) fn area(&self) -> f64 {
        let s = (self.r / 2.0).sin();
        4.0 * PI * s * s
    }
}

/// A validated simple spherical polygon, the smaller region bounded by its edges.
#[derive(Debug, Clone)]
pub(crate) struct Polygon {
    /// Vertices, counter-clockwise.
    v: Vec<V3>,
    /// `n[i]`: unit normal of edge `v[i] -> v[i+1]`, pointing into the polygon.
    n: Vec<V3>,
    convex: bool,
    area: f64,
}

/// Signed area of the triangle (a, b, c), steradians (Eriksson 1990), positive when
/// counter-clockwise. The triple product is formed from differences for tiny triangles.
fn triangle_area(a: V3, b: V3, c: V3) -> f64 {
    let det = dot(a, cross(sub(b, a), sub(c, a)));
    2.0 * det.atan2(1.0 + dot(a, b) + dot(b, c) + dot(c, a))
}

/// The first moment (integral of the position vector) of the spherical triangle (a, b, c),
/// negative when clockwise. This is the formula of S2's `TrueCentroid`: the moment is half the
/// sum over the edges of the edge length times the unit edge normal, rewritten with the
/// differences `b - a`, `c - a` so that tiny triangles keep their relative precision.
fn triangle_moment(a: V3, b: V3, c: V3) -> V3 {
    let ratio = |p: V3, q: V3| {
        let t = angle(p, q);
        let s = t.sin();
        if s == 0.0 { 1.0 } else { t / s }
    };
    let (ra, rb, rc) = (ratio(b, c), ratio(c, a), ratio(a, b));
    let x = [a[0], b[0] - a[0], c[0] - a[0]];
    let y = [a[1], b[1] - a[1], c[1] - a[1]];
    let z = [a[2], b[2] - a[2], c[2] - a[2]];
    let r = [ra, rb - ra, rc - ra];
    scale(
        [
            dot(cross(y, z), r),
            dot(cross(z, x), r),
            dot(cross(x, y), r),
        ],
        0.5,
    )
}

/// Where the great-circle arcs a-b and c-d meet, if they do (both endpoints included).
/// `strict` ignores touching: then both arcs must pass strictly through each other.
pub(crate) fn arcs_cross(a: V3, b: V3, c: V3, d: V3, strict: bool) -> bool {
    let n1 = robust_cross(a, b);
    let n2 = robust_cross(c, d);
    let (sc, sd) = (dot(n1, c), dot(n1, d));
    let (sa, sb) = (dot(n2, a), dot(n2, b));
    let tol = |n: V3| EPS * norm(n);
    let (t1, t2) = (tol(n1), tol(n2));
    if strict {
        if !((sc > t1 && sd < -t1) || (sc < -t1 && sd > t1)) {
            return false;
        }
        if !((sa > t2 && sb < -t2) || (sa < -t2 && sb > t2)) {
            return false;
        }
    } else {
        if (sc > t1 && sd > t1) || (sc < -t1 && sd < -t1) {
            return false;
        }
        if (sa > t2 && sb > t2) || (sa < -t2 && sb < -t2) {
            return false;
        }
    }
    let x = cross(n1, n2);
    let Some(x) = normalize(x) else {
        // The same great circle: they meet when an endpoint of one lies on the other.
        return !strict
            && (on_arc(c, a, b, n1)
                || on_arc(d, a, b, n1)
                || on_arc(a, c, d, n2)
                || on_arc(b, c, d, n2));
    };
    [x, neg(x)]
        .into_iter()
        .any(|y| on_arc(y, a, b, n1) && on_arc(y, c, d, n2))
}

/// Whether `y`, a point of the great circle of the arc a-b (normal `n` = a x b), lies on the arc.
fn on_arc(y: V3, a: V3, b: V3, n: V3) -> bool {
    let t = EPS * norm(n);
    dot(cross(a, y), n) >= -t && dot(cross(y, b), n) >= -t && dot(y, add(a, b)) > 0.0
}

/// Distance in radians from `p` to the arc a-b with unit normal `n`.
fn arc_distance(p: V3, a: V3, b: V3, n: V3) -> f64 {
    // The foot of the perpendicular from p lies on the arc iff p is between the two planes
    // through the normal and each endpoint.
    if dot(cross(a, p), n) >= 0.0 && dot(cross(p, b), n) >= 0.0 {
        let h = dot(p, n);
        let foot = sub(p, scale(n, h));
        h.abs().atan2(norm(foot))
    } else {
        angle(p, a).min(angle(p, b))
    }
}

impl Polygon {
    /// A polygon from `(lon, lat)` pairs in degrees, flat: `[lon0, lat0, lon1, lat1, ...]`.
    ///
    /// # Errors
    /// Fewer than three vertices, a coordinate out of range, coincident or antipodal
    /// consecutive vertices, crossing edges, or zero area, as a lowercase message.
    pub(crate) fn new(flat: &[f64]) -> Result<Self, String> {
        if !flat.len().is_multiple_of(2) {
            return Err(format!(
                "a polygon needs pairs of coordinates, got {} numbers",
                flat.len()
            ));
        }
        let k = flat.len() / 2;
        if k < 3 {
            return Err(format!("a polygon needs at least 3 vertices, got {k}"));
        }
        let mut v = Vec::with_capacity(k);
        for p in flat.chunks_exact(2) {
            check_lonlat(p[0], p[1])?;
            v.push(unit(p[0], p[1]));
        }
        for i in 0..k {
            let (a, b) = (v[i], v[(i + 1) % k]);
            let s = angle(a, b);
            if s <= EPS {
                return Err(format!(
                    "vertices {} and {} coincide; remove the repeated vertex (the polygon closes itself)",
                    i + 1,
                    (i + 1) % k + 1
                ));
            }
            if s >= PI - 1e-12 {
                return Err(format!(
                    "vertices {} and {} are antipodal, so the edge between them is undefined",
                    i + 1,
                    (i + 1) % k + 1
                ));
            }
        }
        for i in 0..k {
            for j in i + 1..k {
                // Adjacent edges share a vertex; they may only meet there.
                let adjacent = j == i + 1 || (i == 0 && j == k - 1);
                let (a, b, c, d) = (v[i], v[(i + 1) % k], v[j], v[(j + 1) % k]);
                let bad = if adjacent {
                    // Folding back onto the previous edge: the three vertices on one great
                    // circle with the two edge normals opposite.
                    let (p, q, r) = if j == i + 1 { (a, b, d) } else { (c, a, b) };
                    let (n1, n2) = (robust_cross(p, q), robust_cross(q, r));
                    norm(cross(n1, n2)) <= EPS * norm(n1) * norm(n2) && dot(n1, n2) < 0.0
                } else {
                    arcs_cross(a, b, c, d, false)
                };
                if bad {
                    return Err(format!(
                        "edges {}-{} and {}-{} cross; a polygon must not intersect itself",
                        i + 1,
                        (i + 1) % k + 1,
                        j + 1,
                        (j + 1) % k + 1
                    ));
                }
            }
        }
        // Signed area of the region to the left, modulo 4 pi, from a triangle fan.
        let s: f64 = (1..k - 1)
            .map(|i| triangle_area(v[0], v[i], v[i + 1]))
            .sum();
        let s = s.rem_euclid(4.0 * PI);
        let (area, reverse) = if s <= 2.0 * PI {
            (s, false)
        } else {
            (4.0 * PI - s, true)
        };
        if area <= 0.0 || !area.is_finite() {
            return Err("the polygon has zero area".into());
        }
        if reverse {
            v.reverse();
        }
        let n: Vec<V3> = (0..k)
            .map(|i| normalize(robust_cross(v[i], v[(i + 1) % k])).unwrap_or([0.0, 0.0, 1.0]))
            .collect();
        let convex = (0..k).all(|i| dot(n[i], v[(i + 2) % k]) >= -EPS);
        Ok(Self { v, n, convex, area })
    }

    /// Vertices, counter-clockwise.
    pub(crate) fn vertices(&self) -> &[V3] {
        &self.v
    }

    /// Area in steradians.
    pub(crate) fn area(&self) -> f64 {
        self.area
    }

    fn edges(&self) -> impl Iterator<Item = (V3, V3, V3)> + '_ {
        let k = self.v.len();
        (0..k).map(move |i| (self.v[i], self.v[(i + 1) % k], self.n[i]))
    }

    /// Whether `p` lies inside or on the boundary.
    pub(crate) fn contains(&self, p: V3) -> bool {
        if self.convex {
            return self.n.iter().all(|n| dot(*n, p) >= -EPS);
        }
        // Winding number of the boundary around the axis through p: +1 when p is inside,
        // -1 when the antipode of p is inside, 0 otherwise. Each edge is shorter than 180
        // degrees and so turns the azimuth seen from p by less than 180 degrees.
        let mut total = 0.0;
        let mut prev = cross(p, self.v[self.v.len() - 1]);
        for (a, b, n) in self.edges() {
            if arc_distance(p, a, b, n) <= EPS {
                return true;
            }
            let u = cross(p, a);
            total += dot(cross(prev, u), p).atan2(dot(prev, u));
            prev = u;
        }
        total > PI
    }

    /// The smallest distance in radians from `p` to the boundary.
    pub(crate) fn boundary_distance(&self, p: V3) -> f64 {
        self.edges()
            .map(|(a, b, n)| arc_distance(p, a, b, n))
            .fold(f64::INFINITY, f64::min)
    }

    /// The centroid (centre of mass of the spherical surface, projected on the sphere): the
    /// sum of the first moments of the triangles of a fan from the first vertex.
    pub(crate) fn centroid(&self) -> V3 {
        let v = &self.v;
        let m = (1..v.len() - 1).fold([0.0; 3], |m, i| {
            add(m, triangle_moment(v[0], v[i], v[i + 1]))
        });
        normalize(m).unwrap_or(v[0])
    }

    /// Whether some edge of `self` meets some edge of `other` (`strict`: properly crosses).
    fn edges_cross(&self, other: &Polygon, strict: bool) -> bool {
        self.edges().any(|(a, b, _)| {
            other
                .edges()
                .any(|(c, d, _)| arcs_cross(a, b, c, d, strict))
        })
    }
}

/// A decoded ADQL geometry value.
#[derive(Debug, Clone)]
pub(crate) enum Shape {
    Point(V3),
    Circle(Cap),
    Polygon(Polygon),
}

impl Shape {
    /// Area in steradians.
    pub(crate) fn area(&self) -> f64 {
        match self {
            Shape::Point(_) => 0.0,
            Shape::Circle(c) => c.area(),
            Shape::Polygon(p) => p.area(),
        }
    }

    /// The centroid as a unit vector.
    pub(crate) fn centroid(&self) -> V3 {
        match self {
            Shape::Point(p) => *p,
            Shape::Circle(c) => c.c,
            Shape::Polygon(p) => p.centroid(),
        }
    }
}

/// ADQL CONTAINS: whether `a` lies entirely within `b` (boundaries included).
pub(crate) fn contains(a: &Shape, b: &Shape) -> bool {
    use Shape::*;
    match (a, b) {
        (Point(p), Point(q)) => angle(*p, *q) <= EPS,
        (Point(p), Circle(c)) => c.contains(*p),
        (Point(p), Polygon(g)) => g.contains(*p),
        (Circle(c), Point(q)) => c.r == 0.0 && angle(c.c, *q) <= EPS,
        (Circle(a), Circle(b)) => angle(a.c, b.c) + a.r <= b.r,
        (Circle(c), Polygon(g)) => g.contains(c.c) && g.boundary_distance(c.c) >= c.r,
        (Polygon(_), Point(_)) => false,
        (Polygon(g), Circle(c)) => {
            // g lies in the cap iff it avoids the open complementary cap around -c.
            if c.r >= PI {
                return true;
            }
            let anti = neg(c.c);
            !(g.contains(anti) || g.boundary_distance(anti) < PI - c.r)
        }
        (Polygon(a), Polygon(b)) => {
            a.vertices().iter().all(|v| b.contains(*v)) && (b.convex || !a.edges_cross(b, true))
        }
    }
}

/// ADQL INTERSECTS: whether `a` and `b` share at least one point (boundaries included).
pub(crate) fn intersects(a: &Shape, b: &Shape) -> bool {
    use Shape::*;
    match (a, b) {
        (Point(_), _) => contains(a, b),
        (_, Point(_)) => contains(b, a),
        (Circle(a), Circle(b)) => angle(a.c, b.c) <= a.r + b.r,
        (Circle(c), Polygon(g)) | (Polygon(g), Circle(c)) => {
            g.contains(c.c) || g.boundary_distance(c.c) <= c.r
        }
        (Polygon(a), Polygon(b)) => {
            a.edges_cross(b, false) || b.contains(a.v[0]) || a.contains(b.v[0])
        }
    }
}

/// The four corners of an ADQL BOX, counter-clockwise, as (lon, lat) degrees.
///
/// The box is the gnomonic rectangle around the centre: its sides are the great circles at
/// angular distance `width / 2` east and west and `height / 2` north and south of the centre,
/// measured along the great circles through the centre in the east and north directions.
/// Corner directions are therefore `c + tan(w/2) e + tan(h/2) n` for the local east `e` and
/// north `n` unit vectors.
pub(crate) fn box_corners(lon: f64, lat: f64, width: f64, height: f64) -> Result<[f64; 8], String> {
    check_lonlat(lon, lat)?;
    for (what, x) in [("width", width), ("height", height)] {
        if !(x > 0.0 && x < 180.0) {
            return Err(format!(
                "box {what} {x} must be greater than 0 and less than 180 degrees"
            ));
        }
    }
    if lat.abs() == 90.0 {
        return Err("a box cannot be centred on a pole, where east and north are undefined".into());
    }
    let c = unit(lon, lat);
    let (sl, cl) = lon.to_radians().sin_cos();
    let (sb, cb) = lat.to_radians().sin_cos();
    let e = [-sl, cl, 0.0];
    let n = [-sb * cl, -sb * sl, cb];
    let (tw, th) = (
        (width / 2.0).to_radians().tan(),
        (height / 2.0).to_radians().tan(),
    );
    let mut out = [0.0; 8];
    for (i, (sx, sy)) in [(-1.0, -1.0), (1.0, -1.0), (1.0, 1.0), (-1.0, 1.0)]
        .into_iter()
        .enumerate()
    {
        let v = add(c, add(scale(e, sx * tw), scale(n, sy * th)));
        let (a, b) = lonlat(v);
        out[2 * i] = a;
        out[2 * i + 1] = b;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SQ_DEG_PER_SR: f64 = (180.0 / PI) * (180.0 / PI);

    fn poly(flat: &[f64]) -> Polygon {
        Polygon::new(flat).unwrap_or_else(|e| panic!("{flat:?}: {e}"))
    }

    fn pt(lon: f64, lat: f64) -> V3 {
        unit(lon, lat)
    }

    #[test]
    fn lonlat_round_trip_and_wrap() {
        for (lon, lat) in [(0.0, 0.0), (359.5, -10.0), (123.0, 89.0), (10.0, -89.999)] {
            let (a, b) = lonlat(unit(lon, lat));
            assert!(
                (a - lon).abs() < 1e-9 && (b - lat).abs() < 1e-9,
                "{lon} {lat}: {a} {b}"
            );
        }
        assert_eq!(lonlat(unit(-10.0, 0.0)).0.round(), 350.0);
    }

    #[test]
    fn angles_tiny_and_antipodal() {
        let d = angle(pt(10.0, 20.0), pt(10.0, 20.0 + 1e-9)).to_degrees();
        assert!((d - 1e-9).abs() < 1e-14, "{d}");
        assert!((angle(pt(0.0, 0.0), pt(180.0, 0.0)) - PI).abs() < 1e-15);
        assert!((angle(pt(0.0, 90.0), pt(0.0, -90.0)) - PI).abs() < 1e-15);
    }

    #[test]
    fn polygon_area_orientation_independent() {
        // A 1x1 degree square on the equator: about 1 square degree.
        let ccw = poly(&[0.0, 0.0, 1.0, 0.0, 1.0, 1.0, 0.0, 1.0]);
        let cw = poly(&[0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0, 0.0]);
        let a = ccw.area() * SQ_DEG_PER_SR;
        assert!((a - 1.0).abs() < 1e-3, "{a}");
        assert!((ccw.area() - cw.area()).abs() < 1e-15);
        // An octant: exactly 4 pi / 8.
        let oct = poly(&[0.0, 0.0, 90.0, 0.0, 0.0, 90.0]);
        assert!((oct.area() - PI / 2.0).abs() < 1e-14, "{}", oct.area());
        // By symmetry its centroid is along (1, 1, 1).
        let (lon, lat) = lonlat(oct.centroid());
        assert!((lon - 45.0).abs() < 1e-12, "{lon}");
        assert!(
            (lat - (1.0 / 2f64.sqrt()).atan().to_degrees()).abs() < 1e-12,
            "{lat}"
        );
        // A hemisphere split along the equator, vertices every 90 degrees: 2 pi.
        let south = poly(&[0.0, 0.0, 90.0, 0.0, 180.0, 0.0, 270.0, 0.0]);
        assert!((south.area() - 2.0 * PI).abs() < 1e-12);
    }

    #[test]
    fn tiny_polygon_area() {
        // 1 x 1 arcsec at the equator: (1/3600)^2 square degrees.
        let s = 1.0 / 3600.0;
        let p = poly(&[10.0, 0.0, 10.0 + s, 0.0, 10.0 + s, s, 10.0, s]);
        let a = p.area() * SQ_DEG_PER_SR;
        assert!((a / (s * s) - 1.0).abs() < 1e-6, "{a}");
        let c = lonlat(p.centroid());
        assert!(
            (c.0 - (10.0 + s / 2.0)).abs() < 5e-9 && (c.1 - s / 2.0).abs() < 5e-9,
            "{c:?}"
        );
    }

    #[test]
    fn polygon_across_ra_zero() {
        let p = poly(&[359.0, -1.0, 1.0, -1.0, 1.0, 1.0, 359.0, 1.0]);
        assert!(p.contains(pt(0.0, 0.0)));
        assert!(p.contains(pt(359.5, 0.5)));
        assert!(p.contains(pt(0.5, -0.5)));
        assert!(!p.contains(pt(180.0, 0.0)));
        assert!(!p.contains(pt(2.0, 0.0)));
        let c = lonlat(p.centroid());
        assert!(c.0.min(360.0 - c.0) < 1e-12 && c.1.abs() < 1e-12, "{c:?}");
    }

    #[test]
    fn polygon_around_the_pole() {
        let p = poly(&[0.0, 80.0, 90.0, 80.0, 180.0, 80.0, 270.0, 80.0]);
        assert!(p.contains(pt(0.0, 90.0)));
        // The edges bow towards the pole: at RA 45 the edge passes dec 82.9.
        assert!(p.contains(pt(0.0, 81.0)));
        assert!(p.contains(pt(45.0, 83.0)));
        assert!(!p.contains(pt(45.0, 82.0)));
        assert!(!p.contains(pt(45.0, 60.0)));
        assert!(!p.contains(pt(0.0, -90.0)));
        assert!((lonlat(p.centroid()).1 - 90.0).abs() < 1e-12);
    }

    #[test]
    fn pole_vertex_and_near_hemisphere() {
        // A triangle with a vertex on the pole: longitude there is irrelevant.
        let t = poly(&[0.0, 80.0, 90.0, 80.0, 123.0, 90.0]);
        assert!(t.contains(pt(45.0, 85.0)));
        assert!(!t.contains(pt(200.0, 85.0)));
        let t2 = poly(&[0.0, 80.0, 90.0, 80.0, 0.0, 90.0]);
        assert!((t.area() - t2.area()).abs() < 1e-15);
        // Almost a hemisphere: four vertices just north of the equator. The northern region is
        // the smaller one, whatever the vertex order.
        for flat in [
            [0.0, 1.0, 90.0, 1.0, 180.0, 1.0, 270.0, 1.0],
            [270.0, 1.0, 180.0, 1.0, 90.0, 1.0, 0.0, 1.0],
        ] {
            let h = poly(&flat);
            assert!(h.area() < 2.0 * PI && h.area() > 1.9 * PI, "{}", h.area());
            // Between vertices the edges bow north: at RA 45 they pass dec 1.414.
            assert!(h.contains(pt(0.0, 90.0)) && h.contains(pt(45.0, 1.5)));
            assert!(!h.contains(pt(45.0, 1.2)));
            assert!(!h.contains(pt(0.0, -90.0)) && !h.contains(pt(0.0, 0.5)));
        }
    }

    #[test]
    fn concave_polygon_antipodes_are_outside() {
        let p = poly(&[0.0, 0.0, 2.0, 0.0, 2.0, 1.0, 1.0, 1.0, 1.0, 2.0, 0.0, 2.0]);
        for (lon, lat) in [(0.5, 0.5), (1.5, 0.5), (0.5, 1.5)] {
            assert!(p.contains(pt(lon, lat)));
            assert!(!p.contains(pt(lon + 180.0, -lat)));
        }
        // On a vertex and on an edge: inside.
        assert!(p.contains(pt(1.0, 1.0)) && p.contains(pt(0.0, 0.7)));
    }

    #[test]
    fn concave_polygon() {
        // An L shape: the notch (1.5, 1.5) is outside.
        let p = poly(&[0.0, 0.0, 2.0, 0.0, 2.0, 1.0, 1.0, 1.0, 1.0, 2.0, 0.0, 2.0]);
        assert!(!p.convex);
        assert!(p.contains(pt(0.5, 0.5)));
        assert!(p.contains(pt(1.5, 0.5)));
        assert!(p.contains(pt(0.5, 1.5)));
        assert!(!p.contains(pt(1.5, 1.5)));
        assert!(!p.contains(pt(181.0, -1.0)));
        let rev = poly(&[0.0, 2.0, 1.0, 2.0, 1.0, 1.0, 2.0, 1.0, 2.0, 0.0, 0.0, 0.0]);
        assert!(!rev.contains(pt(1.5, 1.5)) && rev.contains(pt(1.5, 0.5)));
        let area = p.area() * SQ_DEG_PER_SR;
        assert!((area - 3.0).abs() < 2e-3, "{area}");
    }

    #[test]
    fn bad_polygons() {
        let err = |f: &[f64]| Polygon::new(f).err().unwrap_or_default();
        assert!(err(&[0.0, 0.0, 1.0, 0.0]).contains("at least 3 vertices"));
        assert!(err(&[0.0, 0.0, 1.0, 0.0, 1.0]).contains("pairs"));
        assert!(err(&[0.0, 0.0, 1.0, 0.0, 1.0, 91.0]).contains("latitude 91"));
        assert!(err(&[0.0, 0.0, 1.0, 0.0, f64::NAN, 1.0]).contains("not finite"));
        // A bow tie.
        assert!(err(&[0.0, 0.0, 1.0, 1.0, 1.0, 0.0, 0.0, 1.0]).contains("cross"));
        // The first vertex repeated at the end.
        assert!(err(&[0.0, 0.0, 1.0, 0.0, 1.0, 1.0, 0.0, 0.0]).contains("coincide"));
        assert!(err(&[0.0, 0.0, 180.0, 0.0, 90.0, 45.0]).contains("antipodal"));
        // Collinear: all on the equator, zero area.
        assert!(!err(&[0.0, 0.0, 1.0, 0.0, 2.0, 0.0]).is_empty());
    }

    fn circle(lon: f64, lat: f64, r: f64) -> Shape {
        Shape::Circle(Cap {
            c: pt(lon, lat),
            r: r.to_radians(),
        })
    }

    #[test]
    fn contains_and_intersects() {
        let sq = Shape::Polygon(poly(&[359.0, -1.0, 1.0, -1.0, 1.0, 1.0, 359.0, 1.0]));
        let p = Shape::Point(pt(0.2, 0.2));
        assert!(contains(&p, &sq) && intersects(&p, &sq) && intersects(&sq, &p));
        assert!(contains(&circle(0.0, 0.0, 0.5), &sq));
        assert!(!contains(&circle(0.0, 0.0, 1.5), &sq));
        assert!(intersects(&circle(0.0, 0.0, 1.5), &sq));
        assert!(intersects(&circle(2.0, 0.0, 1.01), &sq));
        assert!(!intersects(&circle(2.0, 0.0, 0.99), &sq));
        // Polygon in circle, also for a circle larger than a hemisphere.
        assert!(contains(&sq, &circle(0.0, 0.0, 1.5)));
        assert!(!contains(&sq, &circle(0.0, 0.0, 1.2)));
        assert!(contains(&sq, &circle(90.0, 0.0, 91.5)));
        assert!(!contains(&sq, &circle(90.0, 0.0, 90.5)));
        assert!(!contains(&sq, &circle(180.0, 0.0, 178.5)));
        assert!(contains(&sq, &circle(0.0, 0.0, 180.0)));
        // Circle in circle, across the pole.
        assert!(contains(&circle(0.0, 89.0, 0.5), &circle(180.0, 89.0, 2.6)));
        assert!(!contains(
            &circle(0.0, 89.0, 0.5),
            &circle(180.0, 89.0, 2.4)
        ));
        assert!(intersects(
            &circle(0.0, 89.0, 1.0),
            &circle(180.0, 89.0, 1.01)
        ));
        assert!(!intersects(
            &circle(0.0, 89.0, 0.9),
            &circle(180.0, 89.0, 1.0)
        ));
        // Antipodal circles of radius 90 touch along the great circle between them.
        assert!(intersects(
            &circle(0.0, 0.0, 90.0),
            &circle(180.0, 0.0, 90.0)
        ));
        // Polygons: overlapping, nested, disjoint, identical.
        let a = Shape::Polygon(poly(&[0.0, 0.0, 2.0, 0.0, 2.0, 2.0, 0.0, 2.0]));
        let b = Shape::Polygon(poly(&[1.0, 1.0, 3.0, 1.0, 3.0, 3.0, 1.0, 3.0]));
        let inner = Shape::Polygon(poly(&[0.5, 0.5, 1.5, 0.5, 1.0, 1.5]));
        let far = Shape::Polygon(poly(&[10.0, 10.0, 11.0, 10.0, 11.0, 11.0]));
        assert!(intersects(&a, &b) && !contains(&a, &b) && !contains(&b, &a));
        assert!(contains(&inner, &a) && intersects(&inner, &a) && !contains(&a, &inner));
        assert!(!intersects(&a, &far));
        assert!(contains(&a, &a));
        // A cross: edges cross but no vertex of one lies in the other.
        let h = Shape::Polygon(poly(&[-3.0, -1.0, 3.0, -1.0, 3.0, 1.0, -3.0, 1.0]));
        let v = Shape::Polygon(poly(&[-1.0, -3.0, 1.0, -3.0, 1.0, 3.0, -1.0, 3.0]));
        assert!(intersects(&h, &v) && !contains(&h, &v));
        // Zero radius: a circle that is a point.
        assert!(contains(
            &Shape::Point(pt(5.0, 5.0)),
            &circle(5.0, 5.0, 0.0)
        ));
        assert!(contains(
            &circle(5.0, 5.0, 0.0),
            &Shape::Point(pt(5.0, 5.0))
        ));
    }

    #[test]
    fn concave_containment_uses_edge_crossings() {
        // A U shape and a bar across its mouth: all bar vertices inside, but the bar crosses
        // the notch.
        let u = poly(&[
            0.0, 0.0, 3.0, 0.0, 3.0, 3.0, 2.0, 3.0, 2.0, 1.0, 1.0, 1.0, 1.0, 3.0, 0.0, 3.0,
        ]);
        let bar = poly(&[0.5, 2.0, 2.5, 2.0, 2.5, 2.5, 0.5, 2.5]);
        assert!(bar.vertices().iter().all(|v| u.contains(*v)));
        assert!(!contains(&Shape::Polygon(bar), &Shape::Polygon(u)));
    }

    #[test]
    fn box_is_a_gnomonic_rectangle() {
        let b = box_corners(10.0, 20.0, 2.0, 1.0).unwrap();
        let p = poly(&b);
        assert!(p.contains(pt(10.0, 20.0)));
        // The midpoints of the sides are at half width / half height along great circles.
        let c = pt(10.0, 20.0);
        let north = p.boundary_distance(c).to_degrees();
        assert!((north - 0.5).abs() < 1e-12, "{north}");
        let a = p.area() * SQ_DEG_PER_SR;
        assert!((a - 2.0).abs() < 1e-3, "{a}");
        let wrap = poly(&box_corners(0.0, 0.0, 2.0, 2.0).unwrap());
        assert!(wrap.contains(pt(359.5, 0.5)) && !wrap.contains(pt(358.9, 0.0)));
        assert!(box_corners(0.0, 0.0, -1.0, 1.0).is_err());
        assert!(box_corners(0.0, 0.0, 1.0, 180.0).is_err());
        assert!(box_corners(0.0, 90.0, 1.0, 1.0).is_err());
        assert!(box_corners(0.0, 95.0, 1.0, 1.0).is_err());
        let near_pole = poly(&box_corners(0.0, 89.5, 2.0, 2.0).unwrap());
        assert!(near_pole.contains(pt(180.0, 89.9)));
    }

    #[test]
    fn cap_area() {
        let hemi = Cap {
            c: pt(0.0, 90.0),
            r: PI / 2.0,
        };
        assert!((hemi.area() - 2.0 * PI).abs() < 1e-15);
        let tiny = Cap {
            c: pt(0.0, 0.0),
            r: 1e-8,
        };
        assert!((tiny.area() / (PI * 1e-16) - 1.0).abs() < 1e-12);
    }
}
