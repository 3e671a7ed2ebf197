//! Property tests: arbitrary valid artifacts serialise and parse back equal; arbitrary or mutated
//! text gives `Ok` or `Err`, never a panic.

use flowcompile_artifact::*;
use indexmap::IndexMap;
use proptest::prelude::*;

fn text() -> impl Strategy<Value = String> {
    "\\PC{0,10}"
}

fn digest() -> impl Strategy<Value = Option<String>> {
    proptest::option::of(any::<Vec<u8>>().prop_map(|b| sha256_hex(&b)))
}

fn count() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<u128>().prop_map(|n| n.to_string()),
        (0.0..1e300f64).prop_map(|x| format!("~{x:.1e}")),
    ]
}

fn space() -> impl Strategy<Value = SpaceSummary> {
    let slot =
        (text(), text(), any::<u32>(), any::<u32>()).prop_map(|(name, agent, a, b)| SlotSummary {
            name,
            agent,
            settings_total: a.max(b),
            settings_kept: a.min(b),
        });
    (
        any::<u64>(),
        count(),
        count(),
        proptest::collection::vec(slot, 0..4),
    )
        .prop_map(
            |(n_structures, n_configs, n_configs_after_pruning, slots)| SpaceSummary {
                n_structures,
                n_configs,
                n_configs_after_pruning,
                slots,
            },
        )
}

fn latency() -> impl Strategy<Value = f64> {
    prop_oneof![
        0.0..1e3f64,
        any::<f64>()
            .prop_map(f64::abs)
            .prop_filter("finite", |x| x.is_finite()),
        Just(0.0),
    ]
}

fn point() -> impl Strategy<Value = Point> {
    let setting = (text(), any::<u32>()).prop_map(|(model, budget_tokens)| PointSetting {
        model,
        budget_tokens,
    });
    let origin = (text(), text()).prop_map(|(config_id, structure_id)| Origin {
        config_id,
        structure_id,
    });
    (
        any::<u32>(),
        proptest::collection::vec((text(), any::<u32>()), 0..4),
        proptest::collection::vec((text(), setting), 0..5),
        prop_oneof![0.0..=1.0f64, Just(1.0)],
        latency(),
        proptest::option::of(origin),
        proptest::option::of((0.0..=1.0f64, 0.0..=1.0f64, 0.0..=1.0f64, 0.0..1e3f64)),
    )
        .prop_map(
            |(index, knobs, settings, accuracy, latency_s, origin, widths)| Point {
                id: String::new(),
                structure: PointStructure {
                    index,
                    knobs: knobs.into_iter().collect(),
                },
                settings: settings.into_iter().collect::<IndexMap<_, _>>(),
                predicted: Predicted {
                    accuracy,
                    latency_s,
                    accuracy_interval: widths.map(|(below, above, _, _)| {
                        [
                            accuracy * below,
                            (accuracy + (1.0 - accuracy) * above).min(1.0),
                        ]
                    }),
                    latency_interval_s: widths
                        .map(|(_, _, below, above)| [latency_s * below, latency_s + above]),
                    selection_optimism: widths.map(|(below, ..)| below * 0.05),
                },
                origin,
            },
        )
}

fn artifact() -> impl Strategy<Value = Artifact> {
    let provenance = (
        "[0-9a-z.+-]{1,10}",
        digest(),
        digest(),
        proptest::option::of(text()),
        proptest::option::of(text()),
    )
        .prop_map(
            |(tool_version, spec_sha256, profiles_sha256, models_label, imported_from)| {
                Provenance {
                    tool: "flowcompile".into(),
                    tool_version,
                    spec_sha256,
                    profiles_sha256,
                    models_label,
                    imported_from,
                }
            },
        );
    let proxy = (
        prop_oneof![
            Just(ExecutionModel::Parallel),
            Just(ExecutionModel::Sequential)
        ],
        prop_oneof![Just(LatencyModel::Measured), Just(LatencyModel::Tokens)],
        prop_oneof![Just(0.0), 0.0..=1.0f64],
        any::<u64>(),
        proptest::option::of(0.0..1.0f64),
    )
        .prop_map(|(execution, latency, dependence, seed, rms)| ProxyModel {
            execution,
            latency,
            dependence,
            intervals: Some(Intervals {
                level: INTERVAL_LEVEL,
                method: IntervalMethod::BootstrapItems,
                resamples: 200,
                seed,
                verified_accuracy_rms: rms,
                verified_latency_rel_rms: rms,
            }),
            selection: Some(SelectionCorrection {
                resamples: 60,
                seed,
            }),
        });
    (
        text(),
        provenance,
        proxy,
        proptest::option::of(space()),
        proptest::collection::vec(point(), 1..8),
    )
        .prop_map(|(workflow, provenance, mut proxy, space, mut points)| {
            // Half of the artifacts are v1 ones, as written before intervals: none anywhere.
            let v1 = proxy.dependence < 0.5;
            if v1 {
                proxy.intervals = None;
                proxy.selection = None;
                for p in &mut points {
                    p.predicted = Predicted::new(p.predicted.accuracy, p.predicted.latency_s);
                }
            }
            let mut a = Artifact {
                format: if v1 {
                    ArtifactFormat::V1
                } else {
                    ArtifactFormat::V2
                },
                workflow,
                provenance,
                proxy,
                space,
                points,
            };
            a.sort_points();
            a
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn artifacts_round_trip(a in artifact()) {
        let text = a.to_json_pretty();
        prop_assert_eq!(Artifact::from_json(&text, "a.json").unwrap(), a.clone());
        prop_assert_eq!(parse_any(&text, "a.json").unwrap(), a);
    }

    #[test]
    fn arbitrary_text_never_panics(text in any::<String>()) {
        prop_assert!(Artifact::from_json(&text, "x").is_err());
        let _ = import_v2(&text, "x");
        let _ = parse_any(&text, "x");
    }

    #[test]
    fn mutated_artifacts_never_panic(a in artifact(), at in any::<usize>(), len in 0usize..8, with in "\\PC{0,3}") {
        let text = a.to_json_pretty();
        let chars: Vec<char> = text.chars().collect();
        let start = at % chars.len();
        let end = (start + len).min(chars.len());
        let mutated: String = chars[..start].iter().chain(with.chars().collect::<Vec<_>>().iter()).chain(&chars[end..]).collect();
        if let Ok(b) = Artifact::from_json(&mutated, "m.json") {
            prop_assert!(b.validate("m.json").is_ok());
        }
        let v2 = mutated
            .replace("flowcompile.artifact.v1", "flowcompile.compiled.v2")
            .replace("flowcompile.artifact.v2", "flowcompile.compiled.v2");
        if let Ok(b) = import_v2(&v2, "m.json") {
            prop_assert!(b.validate("m.json").is_ok());
        }
    }
}
