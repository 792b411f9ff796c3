//! The statistics behind drift and disparity: population stability index, Jensen–Shannon distance and the
//! chi-square test of homogeneity (the p-value is the chi-square survival function, the regularised upper
//! incomplete gamma function Q(k/2, x/2), from puruspe).

/// P(X ≥ `statistic`) for X chi-square distributed with `dof` degrees of freedom; NaN without a degree of
/// freedom or for a statistic that is not a finite non-negative number.
pub fn chi_square_sf(statistic: f64, dof: u32) -> f64 {
    if dof == 0 || !statistic.is_finite() || statistic < 0.0 {
        return f64::NAN;
    }
    puruspe::gammq(f64::from(dof) / 2.0, statistic / 2.0)
}

/// The proportion a category with no observations is given in PSI, so an outcome that appears or vanishes
/// gives a large but finite index (a common choice in credit-risk practice).
pub const PSI_FLOOR: f64 = 1e-4;

/// Population stability index of `current` against `baseline` (counts per category, same order):
/// Σ (c − b) · ln(c / b) over proportions. 0.1 is a moderate shift, 0.25 a significant one.
pub fn psi(baseline: &[f64], current: &[f64]) -> f64 {
    let (base_total, current_total) = (baseline.iter().sum::<f64>(), current.iter().sum::<f64>());
    if base_total <= 0.0 || current_total <= 0.0 {
        return 0.0;
    }
    baseline
        .iter()
        .zip(current)
        .map(|(b, c)| {
            let b = (b / base_total).max(PSI_FLOOR);
            let c = (c / current_total).max(PSI_FLOOR);
            (c - b) * (c / b).ln()
        })
        .sum()
}

/// Jensen–Shannon distance (the square root of the divergence, in bits): 0 for equal distributions, 1 for
/// distributions with no category in common.
pub fn js_distance(baseline: &[f64], current: &[f64]) -> f64 {
    let (base_total, current_total) = (baseline.iter().sum::<f64>(), current.iter().sum::<f64>());
    if base_total <= 0.0 || current_total <= 0.0 {
        return 0.0;
    }
    let mut divergence = 0.0;
    for (b, c) in baseline.iter().zip(current) {
        let (p, q) = (b / base_total, c / current_total);
        let m = (p + q) / 2.0;
        if p > 0.0 {
            divergence += 0.5 * p * (p / m).log2();
        }
        if q > 0.0 {
            divergence += 0.5 * q * (q / m).log2();
        }
    }
    divergence.max(0.0).sqrt().min(1.0)
}

/// A chi-square test's result.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ChiSquare {
    pub statistic: f64,
    pub dof: u32,
    pub p_value: f64,
}

/// Pearson's chi-square test of homogeneity (or independence) on a contingency table of counts, rows ×
/// columns. Rows and columns with no observations are left out. `None` when fewer than two rows or columns
/// remain: there is nothing to compare.
pub fn chi_square(table: &[Vec<f64>]) -> Option<ChiSquare> {
    let columns = table.iter().map(Vec::len).max().unwrap_or(0);
    let column_totals: Vec<f64> = (0..columns)
        .map(|column| {
            table
                .iter()
                .map(|row| row.get(column).copied().unwrap_or(0.0))
                .sum()
        })
        .collect();
    let kept_columns: Vec<usize> = (0..columns)
        .filter(|column| column_totals.get(*column).copied().unwrap_or(0.0) > 0.0)
        .collect();
    let rows: Vec<&Vec<f64>> = table.iter().filter(|row| row.iter().sum::<f64>() > 0.0).collect();
    if rows.len() < 2 || kept_columns.len() < 2 {
        return None;
    }
    let total: f64 = rows.iter().map(|row| row.iter().sum::<f64>()).sum();
    let mut statistic = 0.0;
    for row in &rows {
        let row_total: f64 = row.iter().sum();
        for &column in &kept_columns {
            let expected = row_total * column_totals.get(column).copied().unwrap_or(0.0) / total;
            let observed = row.get(column).copied().unwrap_or(0.0);
            statistic += (observed - expected).powi(2) / expected;
        }
    }
    let dof = u32::try_from((rows.len() - 1) * (kept_columns.len() - 1)).unwrap_or(u32::MAX);
    let p_value = chi_square_sf(statistic, dof);
    Some(ChiSquare {
        statistic,
        dof,
        p_value,
    })
}

#[cfg(test)]
mod tests {

    use super::{chi_square, chi_square_sf, js_distance, psi};

    /// Against tabulated critical values, and the closed form for two degrees of freedom (e^(-x/2)).
    #[test]
    fn the_chi_square_tail_matches_the_tables() {
        for (statistic, dof, p) in [
            (3.841_459, 1, 0.05),
            (5.991_465, 2, 0.05),
            (6.634_897, 1, 0.01),
            (18.307_04, 10, 0.05),
        ] {
            let tail = chi_square_sf(statistic, dof);
            assert!(
                (tail - p).abs() < 1e-6,
                "sf({statistic}, {dof}) = {tail}, want {p}"
            );
        }
        for statistic in [0.5, 10.0, 51.0] {
            let tail = chi_square_sf(statistic, 2);
            assert!(
                (tail / (-statistic / 2.0).exp() - 1.0).abs() < 1e-9,
                "{statistic}: {tail}"
            );
        }
        assert_eq!(chi_square_sf(0.0, 3), 1.0);
        assert!(chi_square_sf(1.0, 0).is_nan());
        assert!(chi_square_sf(f64::NAN, 2).is_nan());
    }

    #[test]
    fn psi_of_equal_distributions_is_zero_and_grows_with_the_shift() {
        assert_eq!(psi(&[50.0, 50.0], &[500.0, 500.0]), 0.0);
        // Hand computed: (0.7-0.5)·ln(0.7/0.5) + (0.3-0.5)·ln(0.3/0.5) = 0.16946...
        let shifted = psi(&[50.0, 50.0], &[70.0, 30.0]);
        assert!((shifted - 0.169_46).abs() < 1e-4, "{shifted}");
    }

    #[test]
    fn js_distance_is_bounded() {
        assert_eq!(js_distance(&[1.0, 0.0], &[1.0, 0.0]), 0.0);
        assert!((js_distance(&[1.0, 0.0], &[0.0, 1.0]) - 1.0).abs() < 1e-12);
    }

    #[test]
    fn chi_square_matches_a_textbook_table() {
        // 2×2: [[10, 20], [30, 40]]: statistic 0.7937, 1 dof, p = 0.3730.
        let result = chi_square(&[vec![10.0, 20.0], vec![30.0, 40.0]]).unwrap();
        assert!((result.statistic - 0.793_65).abs() < 1e-4, "{result:?}");
        assert_eq!(result.dof, 1);
        assert!((result.p_value - 0.3730).abs() < 1e-3, "{result:?}");
        assert!(chi_square(&[vec![10.0, 0.0], vec![5.0, 0.0]]).is_none());
    }
}
