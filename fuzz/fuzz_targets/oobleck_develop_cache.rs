#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| ergon_fuzz::readers::oobleck_develop_cache(data));
