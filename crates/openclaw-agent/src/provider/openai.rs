//! OpenAI Chat Completions: request body and streaming decoder.

use serde_json::{Value, json};

use super::sse::SseEvent;
use super::{
    ChatMessage, DecodeError, Decoder, ErrorKind, ModelEvent, ModelRequest, ToolCall, Usage,
};

pub fn request_body(req: &ModelRequest) -> Value {
    let mut messages = vec![json!({"role": "system", "content": req.system})];
    for m in &req.messages {
        match m {
            ChatMessage::User { text } => messages.push(json!({"role": "user", "content": text})),
            ChatMessage::Assistant { text, tool_calls } => {
                let mut msg = json!({"role": "assistant", "content": text});
                if !tool_calls.is_empty() {
                    msg["tool_calls"] = tool_calls
                        .iter()
                        .map(|c| {
                            json!({
                                "id": c.id,
                                "type": "function",
                                "function": {"name": c.name, "arguments": arguments_string(&c.arguments)}
                            })
                        })
                        .collect();
                }
                messages.push(msg);
            }
            ChatMessage::ToolResult {
                call_id, output, ..
            } => messages.push(json!({"role": "tool", "tool_call_id": call_id, "content": output})),
        }
    }
    let mut body = json!({
        "model": req.model,
        "stream": true,
        "stream_options": {"include_usage": true},
        "messages": messages,
    });
    if !req.tools.is_empty() {
        body["tools"] = req
            .tools
            .iter()
            .map(|t| {
                json!({"type": "function", "function": {
                    "name": t.name, "description": t.description, "parameters": t.parameters
                }})
            })
            .collect();
    }
    if let Some(mt) = req.max_tokens {
        body["max_tokens"] = json!(mt);
    }
    body
}

fn arguments_string(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[derive(Default)]
struct PartialCall {
    id: String,
    name: String,
    arguments: String,
}

#[derive(Default)]
pub struct OpenAiDecoder {
    calls: Vec<(u64, PartialCall)>,
    finish_reason: Option<String>,
    usage: Option<Usage>,
    done: bool,
}

impl Decoder for OpenAiDecoder {
    fn on_event(&mut self, ev: SseEvent, out: &mut Vec<ModelEvent>) -> Result<(), DecodeError> {
        if self.done {
            return Ok(());
        }
        let data = ev.data.trim();
        if data.is_empty() {
            return Ok(());
        }
        if data == "[DONE]" {
            self.calls.sort_by_key(|(i, _)| *i);
            for (_, c) in self.calls.drain(..) {
                out.push(ModelEvent::ToolCall(ToolCall {
                    id: c.id,
                    name: c.name,
                    arguments: super::parse_arguments(&c.arguments),
                }));
            }
            out.push(ModelEvent::Done {
                stop_reason: self.finish_reason.take().unwrap_or_else(|| "stop".into()),
                usage: self.usage.take(),
            });
            self.done = true;
            return Ok(());
        }
        let v: Value = serde_json::from_str(data).map_err(|e| {
            DecodeError::malformed(format!(
                "chunk is not valid JSON ({e}): {}",
                crate::excerpt(data, 200)
            ))
        })?;
        if let Some(err) = v.get("error") {
            let msg = err
                .get("message")
                .and_then(Value::as_str)
                .map(str::to_string)
                .unwrap_or_else(|| err.to_string());
            return Err(DecodeError {
                kind: ErrorKind::Server,
                message: format!("provider reported an error mid-stream: {msg}"),
            });
        }
        if let Some(u) = v.get("usage").filter(|u| u.is_object()) {
            self.usage = Some(Usage {
                input_tokens: u.get("prompt_tokens").and_then(Value::as_u64),
                output_tokens: u.get("completion_tokens").and_then(Value::as_u64),
            });
        }
        let Some(choice) = v.get("choices").and_then(|c| c.get(0)) else {
            return Ok(());
        };
        if let Some(fr) = choice.get("finish_reason").and_then(Value::as_str) {
            self.finish_reason = Some(fr.to_string());
        }
        let Some(delta) = choice.get("delta") else {
            return Ok(());
        };
        if let Some(t) = delta.get("content").and_then(Value::as_str)
            && !t.is_empty()
        {
            out.push(ModelEvent::TextDelta(t.to_string()));
        }
        if let Some(tcs) = delta.get("tool_calls").and_then(Value::as_array) {
            for (pos, tc) in tcs.iter().enumerate() {
                let index = tc
                    .get("index")
                    .and_then(Value::as_u64)
                    .unwrap_or(pos as u64);
                let slot = match self.calls.iter_mut().position(|(i, _)| *i == index) {
                    Some(p) => &mut self.calls[p].1,
                    None => {
                        self.calls.push((index, PartialCall::default()));
                        &mut self.calls.last_mut().expect("just pushed").1
                    }
                };
                if let Some(id) = tc.get("id").and_then(Value::as_str)
                    && !id.is_empty()
                {
                    slot.id = id.to_string();
                }
                if let Some(f) = tc.get("function") {
                    if let Some(n) = f.get("name").and_then(Value::as_str) {
                        slot.name.push_str(n);
                    }
                    match f.get("arguments") {
                        Some(Value::String(a)) => slot.arguments.push_str(a),
                        Some(Value::Null) | None => {}
                        Some(other) => slot.arguments.push_str(&other.to_string()),
                    }
                }
            }
        }
        Ok(())
    }

    fn is_complete(&self) -> bool {
        self.done
    }

    fn end_marker(&self) -> &'static str {
        "data: [DONE]"
    }
}
