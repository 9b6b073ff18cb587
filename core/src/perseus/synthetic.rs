//! Deterministic synthetic frontier problems: a plausible DVFS model of a GPU (perseus.md §7.1)
//! applied to a pipeline whose stages differ slightly in compute, with seeded measurement
//! noise. Used for the built-in default of `ergon frontier`, benchmarks and property tests.

use alloc::vec::Vec;

use rand_core::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;

use super::{EffectiveEnergy, FrontierError, Kind, Pipeline, Problem, Profile, ProfileOption};

/// Parameters of the GPU model.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GpuModel {
    /// Highest SM clock, MHz.
    pub f_max_mhz: u32,
    /// Lowest SM clock, MHz.
    pub f_min_mhz: u32,
    /// Clock step, MHz.
    pub f_step_mhz: u32,
    /// Clock (as a fraction of f_max) where the power cap stops further speed-up.
    pub knee_ratio: f64,
    /// Clock (fraction of f_max) below which the voltage stays at its minimum.
    pub v_ratio: f64,
    /// Minimum voltage relative to the voltage at f_max.
    pub v_min: f64,
    /// Static power, watts.
    pub p_static_w: f64,
    /// Dynamic power at f_max, watts.
    pub p_dyn_w: f64,
    /// Power while blocked on communication, watts.
    pub p_blocking_w: f64,
}

/// An A100-SXM-like GPU: 1410 → 810 MHz in 15 MHz steps, about 400 W at f_max.
pub const A100_LIKE: GpuModel = GpuModel {
    f_max_mhz: 1410,
    f_min_mhz: 810,
    f_step_mhz: 15,
    knee_ratio: 1.05,
    v_ratio: 0.76,
    v_min: 0.84,
    p_static_w: 55.0,
    p_dyn_w: 345.0,
    p_blocking_w: 83.64,
};

/// An H100-SXM-like GPU: 1980 → 1005 MHz, power-capped above about 0.93 f_max.
pub const H100_LIKE: GpuModel = GpuModel {
    f_max_mhz: 1980,
    f_min_mhz: 1005,
    f_step_mhz: 15,
    knee_ratio: 0.93,
    v_ratio: 0.72,
    v_min: 0.82,
    p_static_w: 100.0,
    p_dyn_w: 560.0,
    p_blocking_w: 95.0,
};

/// A synthetic instance: GPU, pipeline shape, forward time at f_max, τ and seed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Synthetic {
    /// The GPU model.
    pub gpu: GpuModel,
    /// Pipeline schedule and shape.
    pub pipeline: Pipeline,
    /// Forward time of an average stage at f_max, seconds.
    pub fwd_s_at_fmax: f64,
    /// τ, seconds.
    pub unit_time_s: f64,
    /// Seed of the stage imbalance and the measurement noise.
    pub seed: u64,
}

/// The built-in default of `ergon frontier`: a GPT-3-like 8-stage × 32-microbatch 1F1B
/// pipeline on A100-like GPUs (heavier first and last stages, 25 ms forwards, τ = 1 ms).
pub fn gpt3_default() -> Synthetic {
    Synthetic {
        gpu: A100_LIKE,
        pipeline: Pipeline::one_f_one_b(8, 32),
        fwd_s_at_fmax: 0.025,
        unit_time_s: 0.001,
        seed: 2026,
    }
}

struct Noise(Xoshiro256PlusPlus);

impl Noise {
    fn uniform(&mut self) -> f64 {
        // 53 random bits in [0, 1).
        (self.0.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    fn between(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.uniform()
    }

    /// Standard normal deviate (Box–Muller).
    fn gauss(&mut self) -> f64 {
        let u1 = 1.0 - self.uniform();
        let u2 = self.uniform();
        libm::sqrt(-2.0 * libm::log(u1)) * libm::cos(2.0 * core::f64::consts::PI * u2)
    }
}

impl Synthetic {
    /// The profile options of one computation type.
    fn options(
        &self,
        t_ref: f64,
        mem_frac: f64,
        p_scale: f64,
        noise: &mut Noise,
    ) -> Vec<ProfileOption> {
        let g = &self.gpu;
        let f_max = f64::from(g.f_max_mhz);
        let knee = g.knee_ratio * f_max;
        let f_v = g.v_ratio * f_max;
        let mut out = Vec::new();
        let mut f = g.f_max_mhz;
        while f >= g.f_min_mhz && f > 0 {
            let ff = f64::from(f);
            // Smooth minimum of f and the knee: the power cap flattens the top clocks.
            let f_eff = ff / libm::pow(1.0 + libm::pow(ff / knee, 12.0), 1.0 / 12.0);
            let t = t_ref * (mem_frac + (1.0 - mem_frac) * (f_max / f_eff));
            let v = if ff <= f_v {
                g.v_min
            } else {
                g.v_min + (1.0 - g.v_min) * (ff - f_v) / (f_max - f_v)
            };
            let p = g.p_static_w + p_scale * g.p_dyn_w * (f_eff / f_max) * v * v;
            let time_s = t * libm::exp(0.004 * noise.gauss());
            let energy_j = p * t * libm::exp(0.008 * noise.gauss());
            out.push(ProfileOption {
                freq_mhz: f,
                time_s,
                energy_j,
            });
            if f < g.f_step_mhz {
                break;
            }
            f -= g.f_step_mhz;
        }
        out
    }

    /// Builds the problem.
    pub fn problem(&self) -> Result<Problem, FrontierError> {
        let dag = self.pipeline.dag()?;
        let mut noise = Noise(Xoshiro256PlusPlus::seed_from_u64(self.seed));
        let s = self.pipeline.num_stages;
        let mut profiles = Vec::with_capacity(2 * s as usize);
        for stage in 0..s {
            // The first stage carries the embedding, the last the LM head and loss.
            let mult = if stage == 0 {
                1.06 + noise.between(-0.01, 0.01)
            } else if stage == s - 1 {
                1.13 + noise.between(-0.01, 0.01)
            } else {
                0.95 + noise.between(-0.04, 0.04)
            };
            let t_f = self.fwd_s_at_fmax * mult;
            let t_b = t_f * (1.95 + noise.between(-0.05, 0.05));
            let fwd = self.options(t_f, 0.22, 1.0, &mut noise);
            let bwd = self.options(t_b, 0.18, 1.06, &mut noise);
            profiles.push(Profile {
                stage,
                kind: Kind::Forward,
                options: fwd,
                fit: None,
            });
            profiles.push(Profile {
                stage,
                kind: Kind::Backward,
                options: bwd,
                fit: None,
            });
        }
        Ok(Problem {
            unit_time_s: self.unit_time_s,
            p_blocking_w: self.gpu.p_blocking_w,
            effective_energy: EffectiveEnergy::AfterFilter,
            profiles,
            dag,
        })
    }
}
