//! Cholesky factors and their inverses, for the feature density's whitening
//! (`answer_fit::density`) and the 8-bit rounding's error weights (`quantise`).

/// `L⁻¹` for the lower-triangular Cholesky factor `L` of a symmetric positive definite matrix:
/// `|L⁻¹ x|²` is `xᵀ Σ⁻¹ x`.
pub fn inverse_cholesky(matrix: &[f64], n: usize) -> Vec<f64> {
    let l = cholesky(matrix, n);
    // Forward substitution, column by column of the identity.
    let mut inverse = vec![0.0f64; n * n];
    for col in 0..n {
        for i in col..n {
            let known: f64 = (col..i).map(|k| l[i * n + k] * inverse[k * n + col]).sum();
            let rhs = if i == col { 1.0 } else { 0.0 };
            inverse[i * n + col] = (rhs - known) / l[i * n + i];
        }
    }
    inverse
}

/// The lower-triangular `L` with `L Lᵀ = matrix` (symmetric positive definite, `n` x `n`).
pub fn cholesky(matrix: &[f64], n: usize) -> Vec<f64> {
    let mut l = vec![0.0f64; n * n];
    for i in 0..n {
        for j in 0..=i {
            let sum: f64 = (0..j).map(|k| l[i * n + k] * l[j * n + k]).sum();
            if i == j {
                l[i * n + i] = (matrix[i * n + i] - sum).max(1e-300).sqrt();
            } else {
                l[i * n + j] = (matrix[i * n + j] - sum) / l[j * n + j];
            }
        }
    }
    l
}
