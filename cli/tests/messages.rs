//! End-to-end tests of messages (issue 12, item 7): a negative value after a numeric option
//! reaches the option's own check (for the options of `ergon-experiments`, see
//! experiments/tests/io.rs), and an error about a file's contents names the file, also when the
//! check happens after the file was parsed.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;
use support::*;

#[test]
fn a_negative_value_after_a_space_gets_the_options_own_message() {
    assert_negative_values_reach_their_checks(
        Bin::Ergon,
        &[
            ("orloj simulate --slo-multiplier -2", &["SLO multiplier -2"]),
            ("orloj simulate --load -1", &["arrivals.load = -1"]),
            (
                "dpk simulate --generate amazon --tasks 20 --eta -0.5",
                &["option `eta`", "strictly between 0 and 0.75"],
            ),
        ],
    );
}

/// A small online workload with task 1 renamed to 0: the reader accepts it, the simulation
/// finds the duplicate.
#[test]
fn an_error_found_after_parsing_names_the_file() {
    let s = Scratch::new("file-names");
    let dir = s.path();
    assert_success(&ergon(
        dir,
        &words("dpk generate amazon --tasks 5 --out online.json"),
    ));
    let text = std::fs::read_to_string(dir.join("online.json")).unwrap();
    assert!(text.contains(r#""id":1,"#), "{text}");
    s.write("dup.json", &text.replacen(r#""id":1,"#, r#""id":0,"#, 1));
    assert_one_line_error(
        &ergon(dir, &["dpk", "simulate", "--config", "dup.json"]),
        &["error: dup.json: ", "task 0 is defined twice"],
    );
    let negative = text.replacen(r#""weight":1.0,"#, r#""weight":-1.0,"#, 1);
    assert_ne!(negative, text);
    s.write("weight.json", &negative);
    assert_one_line_error(
        &ergon(dir, &words("dpk simulate --config weight.json --json")),
        &["error: weight.json: ", "weight -1"],
    );
    // An option from the command line is not blamed on the file.
    let line = assert_one_line_error(
        &ergon(dir, &words("dpk simulate --config online.json --eta 2")),
        &["option `eta`"],
    );
    assert!(!line.contains("online.json"), "{line}");
}

/// An input file larger than MAX_INPUT_BYTES (1 GiB) is refused by its size before it is read:
/// a sparse file of 1 GiB + 1 byte takes no disk and, before the limit, 1 GiB of memory.
#[test]
fn an_input_file_over_the_size_limit_is_refused_before_reading() {
    let s = Scratch::new("huge-input");
    let dir = s.path();
    let big = dir.join("big.json");
    std::fs::File::create(&big)
        .unwrap()
        .set_len((1 << 30) + 1)
        .unwrap();
    let big = big.to_str().unwrap();
    for args in [
        &["dpk", "schedule", "--workload", big][..],
        &["frontier", "--instance", big, "--no-plot"],
        &["orloj", "simulate", "--config", big],
    ] {
        let o = ergon(dir, args);
        assert_one_line_error(&o, &["big.json", "MAX_INPUT_BYTES", "1073741824"]);
    }
}
