//! Built-in chat templates that turn messages into a raw prompt for `/v1/completions`.

use flowcompile_openai::ChatMessage;
use minijinja::Environment;
use serde::Deserialize;

/// A built-in prompt template, chosen per provider with `chat_template`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChatTemplate {
    /// Qwen3's ChatML with thinking: earlier assistant turns lose their `<think>` block, and thinking off
    /// appends an empty `<think>\n\n</think>\n\n` as Qwen3's own template does.
    Qwen3,
    /// Plain ChatML (`<|im_start|>role\n...<|im_end|>`), no thinking markers.
    Chatml,
    /// No markers: `User: ...` / `Assistant: ...` turns for base models; a system message comes first as is.
    Plain,
}

const QWEN3: &str = concat!(
    "{%- for m in messages -%}",
    "{%- if m.role == 'assistant' -%}",
    "{{- '<|im_start|>assistant\\n' ~ (m.content | strip_thinking) ~ '<|im_end|>\\n' -}}",
    "{%- else -%}",
    "{{- '<|im_start|>' ~ m.role ~ '\\n' ~ m.content ~ '<|im_end|>\\n' -}}",
    "{%- endif -%}",
    "{%- endfor -%}",
    "{%- if add_generation_prompt -%}",
    "{{- '<|im_start|>assistant\\n' -}}",
    "{%- if not enable_thinking -%}{{- '<think>\\n\\n</think>\\n\\n' -}}{%- endif -%}",
    "{%- endif -%}",
);

const CHATML: &str = concat!(
    "{%- for m in messages -%}",
    "{{- '<|im_start|>' ~ m.role ~ '\\n' ~ m.content ~ '<|im_end|>\\n' -}}",
    "{%- endfor -%}",
    "{%- if add_generation_prompt -%}{{- '<|im_start|>assistant\\n' -}}{%- endif -%}",
);

const PLAIN: &str = concat!(
    "{%- for m in messages -%}",
    "{%- if m.role == 'system' -%}{{- m.content ~ '\\n\\n' -}}",
    "{%- elif m.role == 'assistant' -%}{{- 'Assistant: ' ~ (m.content | strip_thinking) ~ '\\n\\n' -}}",
    "{%- else -%}{{- (m.role | capitalize) ~ ': ' ~ m.content ~ '\\n\\n' -}}",
    "{%- endif -%}",
    "{%- endfor -%}",
    "{%- if add_generation_prompt -%}{{- 'Assistant:' -}}{%- endif -%}",
);

fn environment(
    name: &'static str,
    source: &'static str,
) -> Result<Environment<'static>, minijinja::Error> {
    let mut env = Environment::new();
    env.add_filter("strip_thinking", |content: String| {
        crate::think::split_thinking(&content).answer.to_string()
    });
    env.add_template(name, source)?;
    Ok(env)
}

#[derive(serde::Serialize)]
struct TemplateMessage {
    role: String,
    content: String,
}

impl ChatTemplate {
    /// The template's name in the providers config.
    pub fn name(self) -> &'static str {
        match self {
            ChatTemplate::Qwen3 => "qwen3",
            ChatTemplate::Chatml => "chatml",
            ChatTemplate::Plain => "plain",
        }
    }

    /// Renders `messages` followed by the assistant generation prompt; `enable_thinking = false` asks the
    /// model to skip thinking where the template knows how (Qwen3).
    pub fn render(
        self,
        messages: &[ChatMessage],
        enable_thinking: bool,
    ) -> Result<String, minijinja::Error> {
        let messages: Vec<TemplateMessage> = messages
            .iter()
            .map(|m| TemplateMessage {
                role: m.role.clone(),
                content: m.text(),
            })
            .collect();
        let source = match self {
            ChatTemplate::Qwen3 => QWEN3,
            ChatTemplate::Chatml => CHATML,
            ChatTemplate::Plain => PLAIN,
        };
        let env = environment(self.name(), source)?;
        env.get_template(self.name())?.render(minijinja::context! {
            messages => messages,
            add_generation_prompt => true,
            enable_thinking => enable_thinking,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check(template: ChatTemplate, enable_thinking: bool, expected: &str) {
        let messages = [
            ChatMessage::system("Be brief."),
            ChatMessage::user("What is 2 + 2?"),
            ChatMessage::assistant("<think>\nadd them\n</think>\n\n4"),
            ChatMessage::user("And 3 + 3?"),
        ];
        assert_eq!(
            template.render(&messages, enable_thinking).unwrap(),
            expected
        );
    }

    #[test]
    fn qwen3_strips_history_thinking_and_can_disable_thinking() {
        let body =
            "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nWhat is 2 + 2?<|im_end|>\n\
                    <|im_start|>assistant\n4<|im_end|>\n<|im_start|>user\nAnd 3 + 3?<|im_end|>\n\
                    <|im_start|>assistant\n";
        check(ChatTemplate::Qwen3, true, body);
        check(
            ChatTemplate::Qwen3,
            false,
            &format!("{body}<think>\n\n</think>\n\n"),
        );
    }

    #[test]
    fn chatml_keeps_content_verbatim() {
        let expected =
            "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nWhat is 2 + 2?<|im_end|>\n\
                        <|im_start|>assistant\n<think>\nadd them\n</think>\n\n4<|im_end|>\n\
                        <|im_start|>user\nAnd 3 + 3?<|im_end|>\n<|im_start|>assistant\n";
        check(ChatTemplate::Chatml, true, expected);
        check(ChatTemplate::Chatml, false, expected);
    }

    #[test]
    fn plain_has_no_markers() {
        check(
            ChatTemplate::Plain,
            true,
            "Be brief.\n\nUser: What is 2 + 2?\n\nAssistant: 4\n\nUser: And 3 + 3?\n\nAssistant:",
        );
    }

    #[test]
    fn content_is_not_escaped() {
        let out = ChatTemplate::Chatml
            .render(&[ChatMessage::user("a < b & \"c\" {{ x }}")], true)
            .unwrap();
        assert_eq!(
            out,
            "<|im_start|>user\na < b & \"c\" {{ x }}<|im_end|>\n<|im_start|>assistant\n"
        );
    }
}
