//! The statistics behind drift and disparity: population stability index, Jensen–Shannon distance and the
//! chi-square test of homogeneity (the p-value from statrs' chi-square distribution).

use statrs::distribution::{ChiSquared, ContinuousCDF};

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
    let p_value = ChiSquared::new(f64::from(dof)).map_or(f64::NAN, |distribution| distribution.sf(statistic));
    Some(ChiSquare {
        statistic,
        dof,
        p_value,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::{chi_square, js_distance, psi};

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
