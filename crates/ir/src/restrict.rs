//! Restricting a workflow's design space to some models and budgets (small spaces for exhaustive studies).

use crate::workflow::Workflow;

/// Why a restriction does not fit a workflow.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RestrictError {
    /// A model no agent of the workflow allows (a typo, or another workflow's model).
    #[error("model `{model}` is not in the design space; it has: {known}")]
    UnknownModel {
        /// The model asked for.
        model: String,
        /// The models the agents allow, comma-separated.
        known: String,
    },
    /// A budget no agent of the workflow allows.
    #[error("budget {budget} is not in the design space; it has: {known}")]
    UnknownBudget {
        /// The budget asked for.
        budget: u32,
        /// The budgets the agents allow, comma-separated.
        known: String,
    },
    /// An agent would be left without any setting.
    #[error("agent `{agent}` allows none of the chosen models and budgets; it allows: {allowed}")]
    NoSettingLeft {
        /// The agent.
        agent: String,
        /// Its settings as `model@budget`, comma-separated.
        allowed: String,
    },
}

fn listed<T: ToString>(values: impl IntoIterator<Item = T>) -> String {
    values
        .into_iter()
        .map(|v| v.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

impl Workflow {
    /// The same workflow with each agent's settings narrowed to `models` and `budgets` (an empty list
    /// keeps every model, or every budget); settings keep their file order. Every model and budget asked
    /// for must occur in the space, and every agent must keep at least one setting.
    ///
    /// ```
    /// use flowcompile_ir::{Agent, Setting, Workflow};
    /// let settings = vec![Setting::new("a", 10), Setting::new("a", 100), Setting::new("b", 10)];
    /// let wf = Workflow::new("w", vec![Agent::new("gen", settings)]);
    /// let small = wf.restrict(&["a".to_string()], &[100]).unwrap();
    /// assert_eq!(small.agents[0].settings, vec![Setting::new("a", 100)]);
    /// assert!(wf.restrict(&["c".to_string()], &[]).is_err());
    /// ```
    pub fn restrict(&self, models: &[String], budgets: &[u32]) -> Result<Workflow, RestrictError> {
        let all = || self.agents.iter().flat_map(|a| a.settings.iter());
        for model in models {
            if !all().any(|s| &s.model == model) {
                let mut known: Vec<&str> = Vec::new();
                for s in all() {
                    if !known.contains(&s.model.as_str()) {
                        known.push(&s.model);
                    }
                }
                return Err(RestrictError::UnknownModel {
                    model: model.clone(),
                    known: listed(known),
                });
            }
        }
        for &budget in budgets {
            if !all().any(|s| s.budget_tokens == budget) {
                let mut known: Vec<u32> = all().map(|s| s.budget_tokens).collect();
                known.sort_unstable();
                known.dedup();
                return Err(RestrictError::UnknownBudget {
                    budget,
                    known: listed(known),
                });
            }
        }
        let mut out = self.clone();
        for agent in &mut out.agents {
            let allowed = listed(agent.settings.iter());
            agent.settings.retain(|s| {
                (models.is_empty() || models.contains(&s.model))
                    && (budgets.is_empty() || budgets.contains(&s.budget_tokens))
            });
            if agent.settings.is_empty() {
                return Err(RestrictError::NoSettingLeft {
                    agent: agent.name.clone(),
                    allowed,
                });
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Agent, Setting};

    fn wf() -> Workflow {
        let grid = |models: &[&str]| {
            models
                .iter()
                .flat_map(|m| [10, 100].map(|b| Setting::new(*m, b)))
                .collect()
        };
        Workflow::new(
            "w",
            vec![
                Agent::new("gen", grid(&["a", "b", "c"])),
                Agent::new("fmt", grid(&["c"])),
            ],
        )
    }

    #[test]
    fn keeps_only_the_chosen_settings_in_order() {
        let small = wf().restrict(&["c".into(), "a".into()], &[]).unwrap();
        assert_eq!(
            small.agents[0].settings,
            vec![
                Setting::new("a", 10),
                Setting::new("a", 100),
                Setting::new("c", 10),
                Setting::new("c", 100)
            ]
        );
        assert_eq!(small.agents[1].settings.len(), 2);
        assert_eq!(wf().restrict(&[], &[]).unwrap(), wf());
    }

    #[test]
    fn unknown_values_and_empty_agents_are_errors() {
        assert_eq!(
            wf().restrict(&["d".into()], &[]).unwrap_err().to_string(),
            "model `d` is not in the design space; it has: a, b, c"
        );
        assert_eq!(
            wf().restrict(&[], &[5]).unwrap_err().to_string(),
            "budget 5 is not in the design space; it has: 10, 100"
        );
        assert_eq!(
            wf().restrict(&["a".into()], &[10]).unwrap_err().to_string(),
            "agent `fmt` allows none of the chosen models and budgets; it allows: c@10, c@100"
        );
    }
}
