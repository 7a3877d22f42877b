//! Anthropic Messages: request body and streaming decoder.

use serde_json::{Value, json};

use super::sse::SseEvent;
use super::{
    ChatMessage, DecodeError, Decoder, ErrorKind, ModelEvent, ModelRequest, ToolCall, Usage,
};

pub const ANTHROPIC_VERSION: &str = "2023-06-01";
pub const DEFAULT_MAX_TOKENS: u32 = 4096;

pub fn request_body(req: &ModelRequest) -> Value {
    // Anthropic wants strictly alternating roles; tool results travel as
    // user-role content blocks. Merge consecutive same-role messages.
    let mut messages: Vec<(String, Vec<Value>)> = Vec::new();
    let mut push = |role: &str, block: Value| match messages.last_mut() {
        Some((r, blocks)) if r == role => blocks.push(block),
        _ => messages.push((role.to_string(), vec![block])),
    };
    for m in &req.messages {
        match m {
            ChatMessage::User { text } => push("user", json!({"type": "text", "text": text})),
            ChatMessage::Assistant { text, tool_calls } => {
                if !text.is_empty() {
                    push("assistant", json!({"type": "text", "text": text}));
                }
                for c in tool_calls {
                    let input = if c.arguments.is_object() {
                        c.arguments.clone()
                    } else {
                        json!({})
                    };
                    push(
                        "assistant",
                        json!({"type": "tool_use", "id": c.id, "name": c.name, "input": input}),
                    );
                }
            }
            ChatMessage::ToolResult {
                call_id,
                output,
                is_error,
                ..
            } => push(
                "user",
                json!({"type": "tool_result", "tool_use_id": call_id, "content": output, "is_error": is_error}),
            ),
        }
    }
    let messages: Vec<Value> = messages
        .into_iter()
        .map(|(role, content)| json!({"role": role, "content": content}))
        .collect();
    let mut body = json!({
        "model": req.model,
        "max_tokens": req.max_tokens.unwrap_or(DEFAULT_MAX_TOKENS),
        "stream": true,
        "system": req.system,
        "messages": messages,
    });
    if !req.tools.is_empty() {
        body["tools"] = req
            .tools
            .iter()
            .map(|t| json!({"name": t.name, "description": t.description, "input_schema": t.parameters}))
            .collect();
    }
    body
}

enum Block {
    Text,
    ToolUse {
        id: String,
        name: String,
        json: String,
    },
    Other,
}

#[derive(Default)]
pub struct AnthropicDecoder {
    blocks: Vec<(u64, Block)>,
    stop_reason: Option<String>,
    usage: Usage,
    done: bool,
}

impl AnthropicDecoder {
    fn block(&mut self, index: u64) -> Option<&mut Block> {
        self.blocks
            .iter_mut()
            .find(|(i, _)| *i == index)
            .map(|(_, b)| b)
    }
}

impl Decoder for AnthropicDecoder {
    fn on_event(&mut self, ev: SseEvent, out: &mut Vec<ModelEvent>) -> Result<(), DecodeError> {
        if self.done || ev.data.trim().is_empty() {
            return Ok(());
        }
        let v: Value = serde_json::from_str(&ev.data).map_err(|e| {
            DecodeError::malformed(format!(
                "event {} is not valid JSON ({e}): {}",
                ev.event.as_deref().unwrap_or("?"),
                crate::excerpt(&ev.data, 200)
            ))
        })?;
        let ty = v
            .get("type")
            .and_then(Value::as_str)
            .map(str::to_string)
            .or(ev.event)
            .unwrap_or_default();
        let index = v.get("index").and_then(Value::as_u64).unwrap_or(0);
        match ty.as_str() {
            "message_start" => {
                if let Some(u) = v.pointer("/message/usage") {
                    self.usage.input_tokens = u.get("input_tokens").and_then(Value::as_u64);
                    self.usage.output_tokens = u.get("output_tokens").and_then(Value::as_u64);
                }
            }
            "content_block_start" => {
                let cb = v.get("content_block").cloned().unwrap_or(Value::Null);
                let block = match cb.get("type").and_then(Value::as_str) {
                    Some("text") => {
                        if let Some(t) = cb.get("text").and_then(Value::as_str)
                            && !t.is_empty()
                        {
                            out.push(ModelEvent::TextDelta(t.to_string()));
                        }
                        Block::Text
                    }
                    Some("tool_use") => Block::ToolUse {
                        id: cb
                            .get("id")
                            .and_then(Value::as_str)
                            .unwrap_or_default()
                            .to_string(),
                        name: cb
                            .get("name")
                            .and_then(Value::as_str)
                            .unwrap_or_default()
                            .to_string(),
                        json: String::new(),
                    },
                    _ => Block::Other,
                };
                self.blocks.retain(|(i, _)| *i != index);
                self.blocks.push((index, block));
            }
            "content_block_delta" => {
                let d = v.get("delta").cloned().unwrap_or(Value::Null);
                match d.get("type").and_then(Value::as_str) {
                    Some("text_delta") => {
                        if let Some(t) = d.get("text").and_then(Value::as_str)
                            && !t.is_empty()
                        {
                            out.push(ModelEvent::TextDelta(t.to_string()));
                        }
                    }
                    Some("input_json_delta") => {
                        let part = d.get("partial_json").and_then(Value::as_str).unwrap_or("");
                        match self.block(index) {
                            Some(Block::ToolUse { json, .. }) => json.push_str(part),
                            _ => {
                                return Err(DecodeError::malformed(format!(
                                    "input_json_delta for content block {index}, which is not a tool_use block"
                                )));
                            }
                        }
                    }
                    _ => {}
                }
            }
            "content_block_stop" => {
                if let Some(pos) = self.blocks.iter().position(|(i, _)| *i == index)
                    && let (_, Block::ToolUse { id, name, json }) = self.blocks.remove(pos)
                {
                    out.push(ModelEvent::ToolCall(ToolCall {
                        id,
                        name,
                        arguments: super::parse_arguments(&json),
                    }));
                }
            }
            "message_delta" => {
                if let Some(sr) = v.pointer("/delta/stop_reason").and_then(Value::as_str) {
                    self.stop_reason = Some(sr.to_string());
                }
                if let Some(o) = v.pointer("/usage/output_tokens").and_then(Value::as_u64) {
                    self.usage.output_tokens = Some(o);
                }
            }
            "message_stop" => {
                out.push(ModelEvent::Done {
                    stop_reason: self.stop_reason.take().unwrap_or_else(|| "end_turn".into()),
                    usage: Some(self.usage.clone()),
                });
                self.done = true;
            }
            "ping" => {}
            "error" => {
                let ety = v
                    .pointer("/error/type")
                    .and_then(Value::as_str)
                    .unwrap_or("error");
                let msg = v
                    .pointer("/error/message")
                    .and_then(Value::as_str)
                    .unwrap_or("");
                let kind = match ety {
                    "overloaded_error" | "api_error" => ErrorKind::Server,
                    "rate_limit_error" => ErrorKind::RateLimited,
                    "authentication_error" | "permission_error" => ErrorKind::Auth,
                    _ => ErrorKind::BadRequest,
                };
                return Err(DecodeError {
                    kind,
                    message: format!("provider reported {ety} mid-stream: {msg}"),
                });
            }
            _ => {}
        }
        Ok(())
    }

    fn is_complete(&self) -> bool {
        self.done
    }

    fn end_marker(&self) -> &'static str {
        "event: message_stop"
    }
}
