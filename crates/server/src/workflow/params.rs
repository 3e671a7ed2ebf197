//! Request parameters: the workflow a model name calls, the point a request chooses (presets,
//! preference, limits and their confidence, the KNN router), the trace flag and the task item
//! from the messages.

use axum::http::{HeaderMap, StatusCode};
use flowcompile_artifact::Point;
use flowcompile_openai::ChatCompletionRequest;
use flowcompile_runner::Config;
use flowcompile_select::{select, Confidence, Preference, Request as Choice};
use serde_json::{Map, Value};

use super::info::{RoutedBy, Selection};
use super::served::{Knn, ServedWorkflow};
use super::{error, AppState, MAX_LATENCY_HEADER, MIN_ACCURACY_HEADER, PREFERENCE_HEADER};
use crate::error::ApiError;

/// Header carrying `confidence`: how sure the chosen point must be to meet the limits, judged by
/// the one-sided bounds of its 90% intervals.
pub(super) const CONFIDENCE_HEADER: &str = "x-flowcompile-confidence";

/// The workflow a model name calls and the suffix after `@`, or 404 naming the served models.
pub(super) fn find_workflow<'a>(
    st: &'a AppState,
    model: &'a str,
) -> Result<(&'a ServedWorkflow, Option<&'a str>), ApiError> {
    let (name, suffix) = match model.split_once('@') {
        Some((n, s)) => (n, Some(s)),
        None => (model, None),
    };
    match st.by_name.get(name) {
        Some(&i) => Ok((&st.workflows[i], suffix)),
        None => {
            let names: Vec<&str> = st.workflows.iter().map(|w| w.name.as_str()).collect();
            Err(ApiError::not_found(
                format!(
                    "model `{}` does not exist: this server serves {} (add @fast, @medium, @high, @xhigh, @0..1 or @POINT_ID to choose the trade-off)",
                    excerpt(model),
                    names.join(", ")
                ),
                Some("model"),
                "model_not_found",
            ))
        }
    }
}

/// A number in the request body or a header, by parameter name.
fn number_param(
    extra: &Map<String, Value>,
    headers: &HeaderMap,
    param: &str,
    header: &str,
) -> Result<Option<f64>, ApiError> {
    let from_body = match extra.get(param) {
        None | Some(Value::Null) => None,
        Some(Value::Number(n)) => n.as_f64(),
        Some(other) => {
            return Err(ApiError::bad_request(
                format!(
                    "`{param}` must be a number, got {}",
                    excerpt(&other.to_string())
                ),
                Some(param),
            ))
        }
    };
    let from_header = header_text(headers, header)?
        .map(|t| {
            t.trim().parse::<f64>().map_err(|_| {
                ApiError::bad_request(
                    format!("header `{header}` must be a number, got `{}`", excerpt(t)),
                    Some(param),
                )
            })
        })
        .transpose()?;
    match (from_body, from_header) {
        (Some(_), Some(_)) => Err(given_twice(param, header)),
        (b, h) => Ok(b.or(h)),
    }
}

fn given_twice(param: &str, header: &str) -> ApiError {
    ApiError::bad_request(
        format!("`{param}` is given both in the body and as header `{header}`: give it once"),
        Some(param),
    )
}

fn header_text<'h>(headers: &'h HeaderMap, name: &str) -> Result<Option<&'h str>, ApiError> {
    headers
        .get(name)
        .map(|v| {
            v.to_str().map_err(|_| {
                ApiError::bad_request(format!("header `{name}` must be visible ASCII"), None)
            })
        })
        .transpose()
}

/// The preference from the body (`"preference": "high"` or `0.7`) or its header, as text.
fn preference_param(
    extra: &Map<String, Value>,
    headers: &HeaderMap,
) -> Result<Option<String>, ApiError> {
    let from_body = match extra.get("preference") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        Some(other) => {
            return Err(ApiError::bad_request(
                format!(
                    "`preference` must be a preset name or a number from 0 to 1, got {}",
                    excerpt(&other.to_string())
                ),
                Some("preference"),
            ))
        }
    };
    let from_header = header_text(headers, PREFERENCE_HEADER)?.map(str::to_owned);
    match (from_body, from_header) {
        (Some(_), Some(_)) => Err(given_twice("preference", PREFERENCE_HEADER)),
        (b, h) => Ok(b.or(h)),
    }
}

fn parse_preference(text: &str, param: &str) -> Result<f64, ApiError> {
    Preference::parse(text).map(Preference::value).map_err(|e| {
        let message = if text.len() > EXCERPT_BYTES {
            format!(
                "`{}` is not a preference: give fast, medium, high, xhigh or a number from 0 to 1",
                excerpt(text)
            )
        } else {
            e.to_string()
        };
        ApiError::bad_request(message, Some(param))
    })
}

/// Longest request text an error message repeats whole.
const EXCERPT_BYTES: usize = 80;

/// `text` as an error message repeats it: whole when short, else its start and its length, so a
/// 60 KB header value sent back is not a 60 KB reply (nor a 60 KB log line).
pub(super) fn excerpt(text: &str) -> String {
    if text.len() <= EXCERPT_BYTES {
        return text.to_owned();
    }
    let mut end = EXCERPT_BYTES / 2;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}... ({} bytes)", &text[..end], text.len())
}

/// Chooses the point: by the model suffix (preset, number or point id), by `preference`,
/// `min_accuracy` and `max_latency_s` (body or headers), or the medium preference. With
/// `confidence` (body or header) every point is judged by the one-sided bounds of its intervals at
/// that level (`flowcompile_select::Confidence`): the artifact must have intervals, and a router's
/// per-query frontier, which has none, cannot take one.
pub(super) fn choose(
    served: &ServedWorkflow,
    suffix: Option<&str>,
    extra: &Map<String, Value>,
    headers: &HeaderMap,
) -> Result<(usize, Selection), ApiError> {
    let preference = preference_param(extra, headers)?;
    let min_accuracy = number_param(extra, headers, "min_accuracy", MIN_ACCURACY_HEADER)?;
    let max_latency_s = number_param(extra, headers, "max_latency_s", MAX_LATENCY_HEADER)?;
    // The limits are checked as the CLI checks them, by the one validation of `select`.
    Choice::new(None, min_accuracy, max_latency_s)
        .map_err(|e| ApiError::bad_request(e.to_string(), Some(e.param.name())))?;
    let confidence = number_param(extra, headers, "confidence", CONFIDENCE_HEADER)?
        .map(|c| {
            Confidence::new(c).map_err(|e| ApiError::bad_request(e.to_string(), Some("confidence")))
        })
        .transpose()?;
    if confidence.is_some() {
        let why = if served.knn.is_some() {
            Some("is served with a KNN router, whose per-query frontier has no intervals")
        } else if served
            .points
            .iter()
            .all(|p| p.predicted.accuracy_interval.is_none())
        {
            Some("has an artifact without intervals (a flowcompile.artifact.v1 one, or compiled from profile files): compile it with --data")
        } else {
            None
        };
        if let Some(why) = why {
            return Err(ApiError::bad_request(
                format!(
                    "`confidence` judges points by their 90% intervals, and workflow `{}` {why}",
                    served.name
                ),
                Some("confidence"),
            ));
        }
    }
    let suffix_preference = match suffix {
        None => None,
        Some(s) => {
            if let Some(i) = served.points.iter().position(|p| p.id == s) {
                if preference.is_some()
                    || min_accuracy.is_some()
                    || max_latency_s.is_some()
                    || confidence.is_some()
                {
                    return Err(ApiError::bad_request(
                        format!(
                            "model `{}@{s}` names a point, which leaves nothing to choose: drop `preference`, `min_accuracy`, `max_latency_s` and `confidence`, or call `{}`",
                            served.name, served.name
                        ),
                        Some("model"),
                    ));
                }
                let selection = Selection {
                    point: Some(s.to_owned()),
                    ..Selection::default()
                };
                return Ok((i, selection));
            }
            if Preference::preset(s).is_none() && s.trim().parse::<f64>().is_err() {
                return Err(ApiError::not_found(
                    format!(
                        "model `{}@{}` does not exist: after `@` give fast, medium, high, xhigh, a preference from 0 to 1, or a point id ({}..{})",
                        served.name,
                        excerpt(s),
                        served.points[0].id,
                        served.points[served.points.len() - 1].id
                    ),
                    Some("model"),
                    "model_not_found",
                ));
            }
            Some(parse_preference(s, "model")?)
        }
    };
    let preference = match (suffix_preference, preference) {
        (Some(_), Some(p)) => {
            return Err(ApiError::bad_request(
                format!(
                "the preference is given twice: by the model suffix `@{}` and as `{}`; give one",
                suffix.unwrap_or_default(),
                excerpt(&p)
            ),
                Some("preference"),
            ))
        }
        (Some(b), None) => Some(b),
        (None, Some(p)) => Some(parse_preference(&p, "preference")?),
        (None, None) => None,
    };
    let request = Choice::new(preference, min_accuracy, max_latency_s)
        .map_err(|e| ApiError::bad_request(e.to_string(), Some(e.param.name())))?;
    let chosen = match confidence {
        None => select(&served.points, &request).map_err(|e| e.to_string()),
        Some(c) => select(&c.bound(&served.points), &request).map_err(|e| {
            format!(
                "at confidence {} (each point's accuracy is its lower bound, its latency its upper bound): {e}",
                c.value()
            )
        }),
    };
    let index = chosen.map_err(|e| {
        error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "no_feasible_point",
            format!("workflow `{}`: {e}", served.name),
        )
    })?;
    Ok((
        index,
        Selection {
            preference: request.preference,
            min_accuracy,
            max_latency_s,
            confidence: confidence.map(Confidence::value),
            point: None,
            routed: None,
        },
    ))
}

/// Routes one request through the KNN router: embeds its input, picks by the same preference and
/// limits `choose` read, and returns the routed point and its configuration.
pub(super) async fn route(
    st: &AppState,
    served: &ServedWorkflow,
    knn: &Knn,
    item: &Value,
    selection: &mut Selection,
) -> Result<(Point, Config), ApiError> {
    let text = flowcompile_route::query_text(item, &served.fields);
    let embedded = knn.client.embed(&knn.model, &[text]).await.map_err(|e| {
        st.metrics.upstream_error(&served.name);
        error(
            StatusCode::BAD_GATEWAY,
            "upstream_error",
            format!(
                "workflow `{}`: embedding the input with `{}` for the router failed: {e}",
                served.name, knn.model
            ),
        )
    })?;
    let query = embedded.vectors.into_iter().next().ok_or_else(|| {
        st.metrics.upstream_error(&served.name);
        error(
            StatusCode::BAD_GATEWAY,
            "upstream_error",
            format!(
                "workflow `{}`: the embedding endpoint of `{}` returned no vector",
                served.name, knn.model
            ),
        )
    })?;
    let request = Choice {
        preference: selection.preference,
        min_accuracy: selection.min_accuracy,
        max_latency_s: selection.max_latency_s,
    };
    let routed = knn.router.route(&query, &request).map_err(|e| match e {
        flowcompile_route::RouteError::Unsatisfiable(e) => error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "no_feasible_point",
            format!("workflow `{}` (routed): {e}", served.name),
        ),
        other => {
            st.metrics.upstream_error(&served.name);
            error(
                StatusCode::BAD_GATEWAY,
                "upstream_error",
                format!("workflow `{}`: routing failed: {other}", served.name),
            )
        }
    })?;
    let config = Config::from_point(
        served.runner.workflow(),
        served.runner.space(),
        routed.structure,
        &routed.settings,
    )
    .map_err(|e| {
        error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "workflow_error",
            format!("workflow `{}`: the routed configuration: {e}", served.name),
        )
    })?;
    selection.routed = Some(RoutedBy {
        k: knn.router.k(),
        neighbours: routed.neighbours.iter().map(|n| n.id.clone()).collect(),
        nearest_similarity: routed.neighbours.first().map(|n| n.similarity),
        fallback_share: if routed.cells == 0 {
            1.0
        } else {
            routed.fallbacks as f64 / routed.cells as f64
        },
        frontier_points: routed.frontier_len,
    });
    Ok((routed.point, config))
}

/// Whether the request asks for the trace (`"flowcompile_trace": true` or header
/// `x-flowcompile-trace: 1`).
pub(super) fn wants_trace(
    extra: &Map<String, Value>,
    headers: &HeaderMap,
) -> Result<bool, ApiError> {
    let body = match extra.get("flowcompile_trace") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(other) => {
            return Err(ApiError::bad_request(
                format!(
                    "`flowcompile_trace` must be true or false, got {}",
                    excerpt(&other.to_string())
                ),
                Some("flowcompile_trace"),
            ))
        }
    };
    let header = match header_text(headers, "x-flowcompile-trace")? {
        None => false,
        Some(t) => matches!(t.trim(), "1" | "true"),
    };
    Ok(body || header)
}

/// The task item from the last user message: its text is the first task field, or, when it is a JSON
/// object, it gives the fields by name.
pub(super) fn task_item(
    workflow: &str,
    task_fields: &[String],
    req: &ChatCompletionRequest,
) -> Result<Value, ApiError> {
    let message = req
        .messages
        .iter()
        .rev()
        .find(|m| m.role == "user")
        .ok_or_else(|| {
            ApiError::bad_request(
                "`messages` has no user message: the last one is the workflow's input",
                Some("messages"),
            )
        })?;
    let text = message.text();
    if text.trim().is_empty() {
        return Err(ApiError::bad_request(
            "the last user message is empty",
            Some("messages"),
        ));
    }
    let fields = task_fields.join(", ");
    if let Ok(Value::Object(item)) = serde_json::from_str::<Value>(text.trim()) {
        let missing: Vec<&str> = task_fields
            .iter()
            .filter(|f| !item.contains_key(*f))
            .map(String::as_str)
            .collect();
        if !missing.is_empty() {
            return Err(ApiError::bad_request(
                format!(
                    "the last user message is a JSON object without the field(s) {} of workflow `{}` (it takes: {fields})",
                    missing.join(", "),
                    workflow
                ),
                Some("messages"),
            ));
        }
        return Ok(Value::Object(item));
    }
    match task_fields {
        [first] => Ok(serde_json::json!({ first: text })),
        [] => Ok(Value::Object(Map::new())),
        _ => Err(ApiError::bad_request(
            format!(
                "workflow `{}` takes the fields {fields}: send the last user message as a JSON object with them",
                workflow
            ),
            Some("messages"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flowcompile_openai::ChatMessage;

    fn request(messages: Vec<ChatMessage>) -> ChatCompletionRequest {
        ChatCompletionRequest::new("w", messages)
    }

    fn fields(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn the_last_user_message_fills_the_first_field() {
        let req = request(vec![
            ChatMessage::system("be brief"),
            ChatMessage::user("first question"),
            ChatMessage::assistant("an answer"),
            ChatMessage::user("What is 6 * 7?"),
        ]);
        let item = task_item("math", &fields(&["problem"]), &req).unwrap();
        assert_eq!(item, serde_json::json!({"problem": "What is 6 * 7?"}));
        let parts: ChatMessage = serde_json::from_value(serde_json::json!({
            "role": "user",
            "content": [{"type": "text", "text": "What is"}, {"type": "text", "text": "6 * 7?"}],
        }))
        .unwrap();
        let item = task_item("math", &fields(&["problem"]), &request(vec![parts])).unwrap();
        assert_eq!(item["problem"], "What is\n6 * 7?");
    }

    #[test]
    fn a_json_object_message_gives_the_fields_by_name() {
        let text = r#"{"question": "Who?", "context": [["Title", ["A sentence."]]], "id": "q7"}"#;
        let req = request(vec![ChatMessage::user(text)]);
        let two = fields(&["question", "context"]);
        let item = task_item("hotpotqa", &two, &req).unwrap();
        assert_eq!(item["context"][0][0], "Title");
        assert_eq!(item["id"], "q7");

        let missing = request(vec![ChatMessage::user(r#"{"question": "Who?"}"#)]);
        let e = task_item("hotpotqa", &two, &missing).unwrap_err();
        assert_eq!(
            e.body.message,
            "the last user message is a JSON object without the field(s) context of workflow `hotpotqa` (it takes: question, context)"
        );
        let plain = request(vec![ChatMessage::user("Who?")]);
        let e = task_item("hotpotqa", &two, &plain).unwrap_err();
        assert_eq!(e.status, StatusCode::BAD_REQUEST);
        assert!(e
            .body
            .message
            .contains("send the last user message as a JSON object"));
        let braces = request(vec![ChatMessage::user("{1, 2} has how many elements?")]);
        let item = task_item("math", &fields(&["problem"]), &braces).unwrap();
        assert_eq!(item["problem"], "{1, 2} has how many elements?");
    }
}
