//! A small VOUnit (IVOA Units in the VO 1.0) parser: enough for angles, times, lengths,
//! masses, magnitudes and their products, quotients and integer powers.

use crate::UdfError;

/// Arrow field metadata key holding a column's VOUnit string (e.g. `"mas.yr**-1"`).
pub const UNIT_METADATA_KEY: &str = "unit";

/// Dimensions: angle, time, length, mass, magnitude.
const N_DIMS: usize = 5;

/// A unit as a scale factor to SI-like base units (rad, s, m, kg, mag) and a dimension vector.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Unit {
    pub(crate) factor: f64,
    pub(crate) dims: [i32; N_DIMS],
}

const ANGLE: usize = 0;
const TIME: usize = 1;
const LENGTH: usize = 2;
const MASS: usize = 3;
const MAG: usize = 4;

const DEG: f64 = std::f64::consts::PI / 180.0;
const DAY: f64 = 86_400.0;
const JULIAN_YEAR: f64 = 365.25 * DAY;

/// Base symbols: (symbol, factor, dimension, accepts SI prefixes).
const SYMBOLS: &[(&str, f64, usize, bool)] = &[
    ("rad", 1.0, ANGLE, true),
    ("deg", DEG, ANGLE, false),
    ("arcmin", DEG / 60.0, ANGLE, false),
    ("arcsec", DEG / 3600.0, ANGLE, true),
    ("mas", DEG / 3.6e6, ANGLE, false),
    ("uas", DEG / 3.6e9, ANGLE, false),
    ("s", 1.0, TIME, true),
    ("min", 60.0, TIME, false),
    ("h", 3600.0, TIME, false),
    ("d", DAY, TIME, false),
    ("yr", JULIAN_YEAR, TIME, true),
    ("a", JULIAN_YEAR, TIME, true),
    ("m", 1.0, LENGTH, true),
    ("pc", 3.085_677_581_491_367e16, LENGTH, true),
    ("AU", 1.495_978_707e11, LENGTH, false),
    ("au", 1.495_978_707e11, LENGTH, false),
    ("lyr", 9.460_730_472_580_8e15, LENGTH, false),
    ("Angstrom", 1e-10, LENGTH, false),
    ("solRad", 6.957e8, LENGTH, false),
    ("g", 1e-3, MASS, true),
    ("solMass", 1.988_409_870_698_051e30, MASS, false),
    ("mag", 1.0, MAG, false),
];

const PREFIXES: &[(&str, f64)] = &[
    ("da", 1e1),
    ("y", 1e-24),
    ("z", 1e-21),
    ("a", 1e-18),
    ("f", 1e-15),
    ("p", 1e-12),
    ("n", 1e-9),
    ("u", 1e-6),
    ("m", 1e-3),
    ("c", 1e-2),
    ("d", 1e-1),
    ("h", 1e2),
    ("k", 1e3),
    ("M", 1e6),
    ("G", 1e9),
    ("T", 1e12),
    ("P", 1e15),
    ("E", 1e18),
    ("Z", 1e21),
    ("Y", 1e24),
];

impl Unit {
    const ONE: Unit = Unit {
        factor: 1.0,
        dims: [0; N_DIMS],
    };

    fn symbol(s: &str) -> Option<Unit> {
        let base = |factor: f64, dim: usize| {
            let mut dims = [0; N_DIMS];
            dims[dim] = 1;
            Unit { factor, dims }
        };
        if let Some(&(_, f, d, _)) = SYMBOLS.iter().find(|(sym, ..)| *sym == s) {
            return Some(base(f, d));
        }
        PREFIXES.iter().find_map(|(p, pf)| {
            let rest = s.strip_prefix(p)?;
            SYMBOLS
                .iter()
                .find(|(sym, _, _, prefixable)| *prefixable && *sym == rest)
                .map(|&(_, f, d, _)| base(f * pf, d))
        })
    }

    fn pow(self, n: i32) -> Unit {
        Unit {
            factor: self.factor.powi(n),
            dims: self.dims.map(|d| d * n),
        }
    }

    fn mul(self, o: Unit) -> Unit {
        let mut dims = self.dims;
        for (d, od) in dims.iter_mut().zip(o.dims) {
            *d += od;
        }
        Unit {
            factor: self.factor * o.factor,
            dims,
        }
    }

    /// Parses a unit string: terms joined by `.`, `*`, space (product) or `/` (divides the
    /// next term only), each an optionally prefixed symbol with an optional integer power
    /// written `**n`, `^n` or as trailing digits (`yr-1`, `m2`). `""` is dimensionless.
    pub(crate) fn parse(text: &str) -> Result<Unit, UdfError> {
        let unknown = || UdfError::UnknownUnit {
            unit: text.to_owned(),
        };
        let mut unit = Unit::ONE;
        let mut divide = false;
        let mut term = String::new();
        let apply = |term: &mut String, divide: bool, unit: &mut Unit| -> Result<(), UdfError> {
            if term.is_empty() {
                return Ok(());
            }
            let t = std::mem::take(term);
            let (sym, power) = split_power(&t).ok_or_else(unknown)?;
            let u = if sym == "1" && power == 1 {
                Unit::ONE
            } else {
                Unit::symbol(sym).ok_or_else(unknown)?
            };
            let u = u.pow(if divide { -power } else { power });
            *unit = unit.mul(u);
            Ok(())
        };
        let mut chars = text.trim().chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '.' | ' ' => {
                    apply(&mut term, divide, &mut unit)?;
                    divide = false;
                }
                '*' if chars.peek() == Some(&'*') => {
                    chars.next();
                    term.push_str("**");
                }
                '*' => {
                    apply(&mut term, divide, &mut unit)?;
                    divide = false;
                }
                '/' => {
                    apply(&mut term, divide, &mut unit)?;
                    if divide {
                        return Err(unknown());
                    }
                    divide = true;
                }
                c if c.is_ascii_alphanumeric() || matches!(c, '-' | '+' | '^') => term.push(c),
                _ => return Err(unknown()),
            }
        }
        if divide && term.is_empty() {
            return Err(unknown());
        }
        apply(&mut term, divide, &mut unit)?;
        Ok(unit)
    }

    /// The factor turning a value in `self` into a value in `to`.
    pub(crate) fn factor_to(self, to: Unit) -> Option<f64> {
        (self.dims == to.dims).then(|| self.factor / to.factor)
    }
}

/// Splits `sym**n`, `sym^n` or `symN` into the symbol and its power.
fn split_power(t: &str) -> Option<(&str, i32)> {
    let (sym, power) = if let Some((s, p)) = t.split_once("**") {
        (s, Some(p))
    } else if let Some((s, p)) = t.split_once('^') {
        (s, Some(p))
    } else {
        match t.find(|c: char| c.is_ascii_digit() || c == '-' || c == '+') {
            Some(0) | None => (t, None),
            Some(i) => (&t[..i], Some(&t[i..])),
        }
    };
    let power = match power {
        None => 1,
        Some(p) => {
            let p = p.trim_start_matches('(').trim_end_matches(')');
            let n: i32 = p.parse().ok()?;
            if n.abs() > 8 {
                return None;
            }
            n
        }
    };
    (!sym.is_empty()).then_some((sym, power))
}

/// The factor turning values in unit `from` into unit `to`.
pub(crate) fn conversion_factor(from: &str, to: &str) -> Result<f64, UdfError> {
    let f = Unit::parse(from)?;
    let t = Unit::parse(to)?;
    f.factor_to(t).ok_or_else(|| UdfError::IncompatibleUnits {
        from: from.to_owned(),
        to: to.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-12 * a.abs().max(b.abs())
    }

    #[test]
    fn conversions() {
        let c = |f, t| conversion_factor(f, t).unwrap_or(f64::NAN);
        assert!(close(c("deg", "arcsec"), 3600.0));
        assert!(close(c("deg", "arcmin"), 60.0));
        assert!(close(c("arcsec", "mas"), 1000.0));
        assert!(close(c("rad", "deg"), 180.0 / std::f64::consts::PI));
        assert!(close(c("d", "h"), 24.0));
        assert!(close(c("yr", "d"), 365.25));
        assert!(close(c("min", "s"), 60.0));
        assert!(close(c("mas.yr**-1", "arcsec/yr"), 1e-3));
        assert!(close(c("mas/yr", "mas.a-1"), 1.0));
        assert!(close(c("km/s", "m.s**-1"), 1000.0));
        assert!(close(c("kpc", "pc"), 1000.0));
        assert!(close(c("", "1"), 1.0));
        assert!(close(c("mag", "mag"), 1.0));
        assert!(close(c("deg**2", "arcmin^2"), 3600.0));
    }

    #[test]
    fn errors() {
        assert!(matches!(
            conversion_factor("deg", "s"),
            Err(UdfError::IncompatibleUnits { .. })
        ));
        for bad in ["furlong", "deg//s", "m**x", "kdeg", "/", "m**99", "é"] {
            assert!(
                matches!(
                    conversion_factor(bad, "m"),
                    Err(UdfError::UnknownUnit { .. })
                ),
                "{bad}"
            );
        }
    }
}
