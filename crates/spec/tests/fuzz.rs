//! The parser never panics: arbitrary text and byte-level mutations of the examples give Ok or Err.

use proptest::prelude::*;

const EXAMPLES: [&str; 3] = [
    include_str!("../../../examples/hotpotqa/workflow.toml"),
    include_str!("../../../examples/math/workflow.toml"),
    include_str!("../../../examples/code/workflow.toml"),
];

fn check_no_panic(text: &str) {
    if let Ok(wf) = flowcompile_spec::parse(text, "fuzz.toml") {
        assert!(
            wf.design_space().is_ok(),
            "a parsed workflow has a design space"
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,400}") {
        check_no_panic(&text);
    }

    #[test]
    fn mutated_examples_never_panic(
        which in 0usize..3,
        edits in prop::collection::vec((any::<prop::sample::Index>(), 0usize..40, "[\\[\\]{}=\",a-z0-9_ \n#-]{0,12}"), 1..4),
    ) {
        let mut text = EXAMPLES[which].to_string();
        for (at, len, insert) in edits {
            let start = at.index(text.len());
            let start = (0..=start).rev().find(|i| text.is_char_boundary(*i)).unwrap_or(0);
            let end = (start + len).min(text.len());
            let end = (end..=text.len()).find(|i| text.is_char_boundary(*i)).unwrap_or(text.len());
            text.replace_range(start..end, &insert);
        }
        check_no_panic(&text);
    }
}
