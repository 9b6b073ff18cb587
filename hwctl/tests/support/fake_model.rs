//! The fake NVML's power-model entry points from Rust (hwctl's own tests only: they use
//! `libc`, which the crates that include `support` by path may lack).

/// The power-model entry points of the fake NVML the child loaded (`fakeNvmlRun`,
/// `fakeNvmlBusyPowerW`, `fakeNvmlBusySeconds`; see the fake's header comment), looked up in
/// the same process-wide instance hwctl uses (child side).
pub struct FakeModel {
    run: unsafe extern "C" fn(u32, f64) -> i32,
    power_w: unsafe extern "C" fn(u32, u32) -> f64,
    seconds: unsafe extern "C" fn(u32, u32, f64) -> f64,
}

impl FakeModel {
    /// Loads the entry points from `$ERGON_NVML_LIBRARY`.
    pub fn load() -> Self {
        let path = std::ffi::CString::new(std::env::var("ERGON_NVML_LIBRARY").unwrap()).unwrap();
        // SAFETY: dlopen/dlsym with valid C strings; the library stays loaded (never closed),
        // and the symbols have the signatures the fake's header comment documents.
        unsafe {
            let handle = libc::dlopen(path.as_ptr(), libc::RTLD_NOW);
            assert!(!handle.is_null(), "dlopen of the fake NVML failed");
            let symbol = |name: &str| {
                let name = std::ffi::CString::new(name).unwrap();
                let address = libc::dlsym(handle, name.as_ptr());
                assert!(!address.is_null(), "the fake NVML lacks {name:?}");
                address
            };
            Self {
                run: std::mem::transmute::<*mut libc::c_void, unsafe extern "C" fn(u32, f64) -> i32>(
                    symbol("fakeNvmlRun"),
                ),
                power_w: std::mem::transmute::<
                    *mut libc::c_void,
                    unsafe extern "C" fn(u32, u32) -> f64,
                >(symbol("fakeNvmlBusyPowerW")),
                seconds: std::mem::transmute::<
                    *mut libc::c_void,
                    unsafe extern "C" fn(u32, u32, f64) -> f64,
                >(symbol("fakeNvmlBusySeconds")),
            }
        }
    }

    /// A computation of `seconds_at_max` (at the maximum clock) on GPU `index`.
    pub fn run(&self, index: u32, seconds_at_max: f64) {
        // SAFETY: a plain C function of the fake.
        assert_eq!(unsafe { (self.run)(index, seconds_at_max) }, 0);
    }

    /// The model's busy power at `freq_mhz`, W.
    pub fn power_w(&self, index: u32, freq_mhz: u32) -> f64 {
        // SAFETY: a plain C function of the fake.
        unsafe { (self.power_w)(index, freq_mhz) }
    }

    /// The model's duration at `freq_mhz` of a computation of `seconds_at_max`, s.
    pub fn seconds(&self, index: u32, freq_mhz: u32, seconds_at_max: f64) -> f64 {
        // SAFETY: a plain C function of the fake.
        unsafe { (self.seconds)(index, freq_mhz, seconds_at_max) }
    }
}
