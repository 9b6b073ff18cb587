//! Python's float floor division, which lowtime uses to quantize times and capacities.
//!
//! `x // y` in Python is not `floor(x / y)`: CPython computes `(x − fmod(x, y)) / y` and rounds
//! that to the nearest integer, so `0.037 // 0.001 == 36.0` while `floor(0.037 / 0.001) == 37`.
//! Matching lowtime's integer durations and 1e-6 capacity grid requires the same arithmetic.

/// `x // y` with CPython's semantics (`float_floor_div`), for finite `x` and non-zero `y`.
pub fn floor_div(x: f64, y: f64) -> f64 {
    let rem = libm::fmod(x, y);
    let mut div = (x - rem) / y;
    if rem != 0.0 && ((y < 0.0) != (rem < 0.0)) {
        div -= 1.0;
    }
    if div != 0.0 {
        let mut floored = libm::floor(div);
        if div - floored > 0.5 {
            floored += 1.0;
        }
        floored
    } else {
        libm::copysign(0.0, x / y)
    }
}

#[cfg(test)]
mod tests {
    use super::floor_div;

    #[test]
    fn matches_python_on_round_decimals() {
        // Values checked in CPython 3.11.
        assert_eq!(floor_div(0.037, 0.001), 36.0);
        assert_eq!(libm::floor(0.037 / 0.001), 37.0);
        assert_eq!(floor_div(0.0219, 0.001), 21.0);
        assert_eq!(floor_div(7.0, 2.0), 3.0);
        assert_eq!(floor_div(-7.0, 2.0), -4.0);
        assert_eq!(floor_div(0.0, 0.001), 0.0);
        assert_eq!(floor_div(1.0, 1e-6), 1_000_000.0);
        assert_eq!(floor_div(0.3, 0.1), 2.0);
        assert_eq!(floor_div(2.675, 0.001), 2674.0);
    }
}
