//! One configuration of a workflow: a structure and a setting per slot it calls.

use crate::{DesignSpace, Setting, SlotId, Workflow};

/// Why a configuration does not fit a workflow's design space.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The structure index is past the design space's structures.
    #[error("structure {index} does not exist: the design space has {n_structures} structures")]
    StructureOutOfRange {
        /// The index asked for.
        index: usize,
        /// Number of structures.
        n_structures: usize,
    },
    /// A slot id or name the design space does not have.
    #[error("unknown slot `{slot}`")]
    UnknownSlot {
        /// The slot, by id or name.
        slot: String,
    },
    /// A setting index past the slot's agent's settings.
    #[error("slot `{slot}`: setting {index} does not exist: its agent has {n_settings} settings")]
    SettingOutOfRange {
        /// Slot name.
        slot: String,
        /// The index asked for.
        index: u32,
        /// Number of settings of the agent.
        n_settings: usize,
    },
    /// A slot the structure calls has no setting.
    #[error("slot `{slot}` is called by structure {structure} but has no setting")]
    MissingSetting {
        /// Slot name.
        slot: String,
        /// The structure index.
        structure: usize,
    },
}

/// A structure of the design space and the (model, budget) setting of each slot it calls.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    /// Index into [`DesignSpace::structures`].
    pub structure: usize,
    /// Setting of each slot, indexed by slot id; `None` for slots the structure does not call.
    pub settings: Vec<Option<Setting>>,
}

impl Config {
    /// Builds a configuration from settings given by slot, checking that the structure exists and
    /// every slot it calls has a setting.
    pub fn new(
        space: &DesignSpace,
        structure: usize,
        settings: impl IntoIterator<Item = (SlotId, Setting)>,
    ) -> Result<Config, ConfigError> {
        let s = space
            .structures
            .get(structure)
            .ok_or(ConfigError::StructureOutOfRange {
                index: structure,
                n_structures: space.structures.len(),
            })?;
        let mut per_slot = vec![None; space.slots.len()];
        for (slot, setting) in settings {
            let entry =
                per_slot
                    .get_mut(slot.0 as usize)
                    .ok_or_else(|| ConfigError::UnknownSlot {
                        slot: format!("#{}", slot.0),
                    })?;
            *entry = Some(setting);
        }
        if let Some(missing) = s.slots.iter().find(|id| per_slot[id.0 as usize].is_none()) {
            return Err(ConfigError::MissingSetting {
                slot: space.slots[missing.0 as usize].name.clone(),
                structure,
            });
        }
        Ok(Config {
            structure,
            settings: per_slot,
        })
    }

    /// From what a search point carries: a structure index and, per slot, an index into
    /// the slot's agent's settings.
    pub fn from_point(
        wf: &Workflow,
        space: &DesignSpace,
        structure: usize,
        settings: &[(SlotId, u32)],
    ) -> Result<Config, ConfigError> {
        let mut resolved = Vec::with_capacity(settings.len());
        for &(slot, index) in settings {
            let s = space
                .slots
                .get(slot.0 as usize)
                .ok_or_else(|| ConfigError::UnknownSlot {
                    slot: format!("#{}", slot.0),
                })?;
            let allowed = &wf.agent(s.agent).settings;
            let setting =
                allowed
                    .get(index as usize)
                    .ok_or_else(|| ConfigError::SettingOutOfRange {
                        slot: s.name.clone(),
                        index,
                        n_settings: allowed.len(),
                    })?;
            resolved.push((slot, setting.clone()));
        }
        Config::new(space, structure, resolved)
    }

    /// Every slot of the structure under the same setting (a baseline, or a quick test).
    pub fn uniform(
        space: &DesignSpace,
        structure: usize,
        setting: &Setting,
    ) -> Result<Config, ConfigError> {
        let n = space.slots.len();
        Config::new(
            space,
            structure,
            (0..n).map(|i| (SlotId(i as u32), setting.clone())),
        )
    }

    /// The setting of `slot`, if it has one.
    pub fn setting(&self, slot: SlotId) -> Option<&Setting> {
        self.settings.get(slot.0 as usize)?.as_ref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Agent, AgentId, Count, NodeKind};

    fn space() -> (Workflow, DesignSpace) {
        let settings = vec![Setting::new("small", 10), Setting::new("big", 100)];
        let mut wf = Workflow::new("w", vec![Agent::new("gen", settings)]);
        let gen = wf.add_node("gen", NodeKind::Agent(AgentId(0)));
        wf.root = wf.add_node(
            "gens",
            NodeKind::Repeat {
                body: gen,
                count: Count::new(1, 2),
            },
        );
        let space = wf.design_space().unwrap();
        (wf, space)
    }

    #[test]
    fn from_point_resolves_setting_indices() {
        let (wf, space) = space();
        let c = Config::from_point(&wf, &space, 1, &[(SlotId(0), 1)]).unwrap();
        assert_eq!(c.setting(SlotId(0)), Some(&Setting::new("big", 100)));
        assert_eq!(
            Config::from_point(&wf, &space, 1, &[(SlotId(0), 2)]).unwrap_err(),
            ConfigError::SettingOutOfRange {
                slot: "gen".into(),
                index: 2,
                n_settings: 2
            }
        );
        assert!(matches!(
            Config::from_point(&wf, &space, 5, &[]).unwrap_err(),
            ConfigError::StructureOutOfRange {
                index: 5,
                n_structures: 2
            }
        ));
        assert_eq!(
            Config::from_point(&wf, &space, 0, &[])
                .unwrap_err()
                .to_string(),
            "slot `gen` is called by structure 0 but has no setting"
        );
    }
}
