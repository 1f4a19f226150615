//! Dense Cholesky factorisation for the small (5x5, 55x55) covariance matrices we draw from.

/// Lower Cholesky factor of the symmetric n x n row-major matrix `a` (only the lower triangle
/// is read). `None` if `a` is not numerically positive definite.
pub(crate) fn cholesky(a: &[f64], n: usize) -> Option<Vec<f64>> {
    if a.len() != n * n {
        return None;
    }
    let mut l = vec![0.0; n * n];
    for i in 0..n {
        for j in 0..=i {
            let mut s = a[i * n + j];
            for k in 0..j {
                s -= l[i * n + k] * l[j * n + k];
            }
            if i == j {
                if !s.is_finite() || s <= 0.0 {
                    return None;
                }
                l[i * n + i] = s.sqrt();
            } else {
                l[i * n + j] = s / l[j * n + j];
            }
        }
    }
    Some(l)
}

/// y = L z for a lower-triangular row-major L.
pub(crate) fn lower_mul(l: &[f64], n: usize, z: &[f64]) -> Vec<f64> {
    (0..n)
        .map(|i| (0..=i).map(|k| l[i * n + k] * z[k]).sum())
        .collect()
}

/// Index of element (i, j), i > j, in the Gaia strict-lower-triangle packing
/// (k = i(i-1)/2 + j; see the Gaia DR3 XP documentation).
pub(crate) fn packed_index(i: usize, j: usize) -> usize {
    i * (i - 1) / 2 + j
}

/// Full n x n correlation matrix (unit diagonal) from the packed strict lower triangle.
pub(crate) fn unpack_correlations(packed: &[f64], n: usize) -> Vec<f64> {
    let mut r = vec![0.0; n * n];
    for i in 0..n {
        r[i * n + i] = 1.0;
        for j in 0..i {
            let v = packed[packed_index(i, j)];
            r[i * n + j] = v;
            r[j * n + i] = v;
        }
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cholesky_reconstructs_and_rejects_indefinite() {
        let a = [4.0, 2.0, 0.4, 2.0, 5.0, 1.0, 0.4, 1.0, 3.0];
        let l = cholesky(&a, 3).unwrap_or_default();
        for i in 0..3 {
            for j in 0..3 {
                let s: f64 = (0..3).map(|k| l[i * 3 + k] * l[j * 3 + k]).sum();
                assert!((s - a[i * 3 + j]).abs() < 1e-12);
            }
        }
        assert!(cholesky(&[1.0, 2.0, 2.0, 1.0], 2).is_none());
    }

    #[test]
    fn packing_order_matches_gaia() {
        assert_eq!(packed_index(1, 0), 0);
        assert_eq!(packed_index(2, 0), 1);
        assert_eq!(packed_index(2, 1), 2);
        assert_eq!(packed_index(3, 0), 3);
        assert_eq!(packed_index(54, 53), 1484);
    }
}
