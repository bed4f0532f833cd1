//! The learning-rate schedule.

use skin_lesion::TrainingConfig;

/// Learning rate at `step`: linear warm-up from lr/10, then cosine decay to lr/100 at the end.
pub fn learning_rate(config: &TrainingConfig, step: usize, steps_per_epoch: usize) -> f64 {
    let warmup = config.warmup_epochs * steps_per_epoch;
    let total = (config.epochs * steps_per_epoch).max(1);
    if step < warmup {
        return config.lr * (0.1 + 0.9 * step as f64 / warmup as f64);
    }
    let progress = (step - warmup) as f64 / (total - warmup).max(1) as f64;
    let floor = config.lr * 0.01;
    floor + (config.lr - floor) * 0.5 * (1.0 + (std::f64::consts::PI * progress.min(1.0)).cos())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn learning_rate_warms_up_then_decays() {
        let config = TrainingConfig::new()
            .with_epochs(10)
            .with_lr(0.01)
            .with_warmup_epochs(1);
        assert!((learning_rate(&config, 0, 100) - 0.001).abs() < 1e-12);
        assert!((learning_rate(&config, 100, 100) - 0.01).abs() < 1e-12);
        assert!(learning_rate(&config, 500, 100) < 0.01);
        assert!((learning_rate(&config, 1000, 100) - 0.0001).abs() < 1e-9);
    }
}
