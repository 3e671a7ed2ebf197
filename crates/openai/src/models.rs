//! `/v1/models`: the list of served models.

use serde::{Deserialize, Serialize};

/// Body of a `GET /v1/models` reply.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelList {
    /// Always `list`.
    #[serde(default)]
    pub object: String,
    /// The models.
    #[serde(default)]
    pub data: Vec<Model>,
}

/// One served model.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Model {
    /// The id to put in a request's `model`.
    pub id: String,
    /// Always `model`.
    #[serde(default)]
    pub object: String,
    /// Unix time of creation, seconds.
    #[serde(default)]
    pub created: u64,
    /// Owner (`vllm`, `openai`, `zoo`, ...).
    #[serde(default)]
    pub owned_by: String,
}

impl ModelList {
    /// A `list` object holding `data`.
    pub fn new(data: Vec<Model>) -> Self {
        ModelList {
            object: "list".into(),
            data,
        }
    }
}

impl Model {
    /// A `model` object with `id` owned by `owned_by`, created at time 0.
    pub fn new(id: impl Into<String>, owned_by: impl Into<String>) -> Self {
        Model {
            id: id.into(),
            object: "model".into(),
            created: 0,
            owned_by: owned_by.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_list_round_trips_and_parses_vllm() {
        let list = ModelList::new(vec![Model::new("zoo-8b", "zoo")]);
        let text = serde_json::to_string(&list).unwrap();
        assert_eq!(serde_json::from_str::<ModelList>(&text).unwrap(), list);
        let vllm = r#"{"object":"list","data":[{"id":"Qwen/Qwen3-8B","object":"model","created":1,"owned_by":"vllm",
            "root":"Qwen/Qwen3-8B","parent":null,"max_model_len":32768,"permission":[]}]}"#;
        let l: ModelList = serde_json::from_str(vllm).unwrap();
        assert_eq!(l.data[0].id, "Qwen/Qwen3-8B");
    }
}
