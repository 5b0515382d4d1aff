//! MCP's stdio transport: one JSON-RPC message per line, in both directions.
//!
//! rmcp's own line transport drops input that is not JSON without a word and answers
//! every other malformed message with a bare `-32600` that carries no id. An agent's
//! client then waits for an answer that never comes. This transport answers every
//! line that expects one, as JSON-RPC 2.0 says:
//!
//! | input | answer |
//! |---|---|
//! | not JSON (or not UTF-8) | `-32700` parse error, `id: null`, saying where it broke |
//! | JSON but not a JSON-RPC 2.0 message (a batch, no `"jsonrpc": "2.0"`, a bad `id`) | `-32600` with the request's id when it has a usable one |
//! | a known method with malformed params | `-32602` with the id, naming what is wrong |
//! | a line longer than [`MAX_LINE_BYTES`] | `-32600`, `id: null`; the line is skipped without being buffered |
//!
//! Notifications (messages without an id) are never answered, as the spec requires,
//! and neither are responses (the client's answers to the server's requests): a
//! malformed one is logged and skipped. Well-formed messages go to rmcp unchanged,
//! so unknown methods still get rmcp's `-32601`.

use std::sync::Arc;

use rmcp::RoleServer;
use rmcp::model::{ClientJsonRpcMessage, ClientRequest, JsonRpcMessage, ServerJsonRpcMessage};
use rmcp::transport::Transport;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::sync::Mutex;

/// The longest line read; longer ones are refused. Tool arguments are small, and
/// `import_notebook`/`put_file` content of a few megabytes fits well within it.
pub const MAX_LINE_BYTES: usize = 16 * 1024 * 1024;

/// JSON-RPC error codes.
const PARSE_ERROR: i64 = -32700;
const INVALID_REQUEST: i64 = -32600;
const INVALID_PARAMS: i64 = -32602;

/// A line transport over any reader and writer (stdin and stdout in the binary).
pub struct LineTransport<R, W> {
    reader: BufReader<R>,
    /// The line being read. It lives here, not in `receive`, because rmcp polls
    /// `receive` inside a `select!` and may drop it halfway through a line.
    line: Vec<u8>,
    /// True while skipping the rest of a line that was too long.
    skipping: bool,
    max_line: usize,
    writer: Arc<Mutex<W>>,
    /// Error answers still being written; awaited before `receive` reports the end
    /// of input, so that none is lost when the client hangs up.
    answering: Vec<tokio::task::JoinHandle<()>>,
}

impl<R: AsyncRead + Unpin + Send, W: AsyncWrite + Unpin + Send + 'static> LineTransport<R, W> {
    pub fn new(reader: R, writer: W) -> Self {
        Self::with_max_line(reader, writer, MAX_LINE_BYTES)
    }

    /// A transport that refuses lines longer than `max_line` bytes.
    pub fn with_max_line(reader: R, writer: W, max_line: usize) -> Self {
        Self {
            reader: BufReader::with_capacity(64 * 1024, reader),
            line: Vec::new(),
            skipping: false,
            max_line,
            writer: Arc::new(Mutex::new(writer)),
            answering: Vec::new(),
        }
    }

    /// Read up to the next newline into `self.line`, never holding more than
    /// `max_line` bytes. Cancel-safe: bytes are consumed from the reader only once
    /// they are in `self.line` (or skipped).
    async fn read_line(&mut self) -> std::io::Result<Line> {
        loop {
            let available = self.reader.fill_buf().await?;
            if available.is_empty() {
                return Ok(Line::End);
            }
            let newline = available.iter().position(|b| *b == b'\n');
            let take = newline.map_or(available.len(), |i| i + 1);
            let outcome = if self.skipping {
                if newline.is_some() {
                    self.skipping = false;
                }
                None
            } else if self.line.len() + take > self.max_line + 1 {
                let total = self.line.len() + take;
                self.line.clear();
                self.skipping = newline.is_none();
                Some(Line::TooLong(total))
            } else {
                self.line.extend_from_slice(&available[..take]);
                newline.map(|_| Line::Complete)
            };
            self.reader.consume(take);
            if let Some(outcome) = outcome {
                return Ok(outcome);
            }
        }
    }

    /// Answer a bad line. The write runs as its own task, so that rmcp dropping
    /// `receive` can never leave half an answer on the channel.
    fn answer(&mut self, answer: Value) {
        let writer = self.writer.clone();
        self.answering.retain(|task| !task.is_finished());
        self.answering.push(tokio::spawn(async move {
            let mut bytes = answer.to_string().into_bytes();
            bytes.push(b'\n');
            let mut writer = writer.lock().await;
            if let Err(e) = async {
                writer.write_all(&bytes).await?;
                writer.flush().await
            }
            .await
            {
                tracing::warn!("cannot write an error answer: {e}");
            }
        }));
    }
}

enum Line {
    Complete,
    TooLong(usize),
    End,
}

impl<R, W> Transport<RoleServer> for LineTransport<R, W>
where
    R: AsyncRead + Unpin + Send,
    W: AsyncWrite + Unpin + Send + 'static,
{
    type Error = std::io::Error;

    fn send(&mut self, item: ServerJsonRpcMessage) -> impl Future<Output = Result<(), Self::Error>> + Send + 'static {
        let writer = self.writer.clone();
        async move {
            let mut bytes = serde_json::to_vec(&item).map_err(std::io::Error::other)?;
            bytes.push(b'\n');
            let mut writer = writer.lock().await;
            writer.write_all(&bytes).await?;
            writer.flush().await
        }
    }

    async fn receive(&mut self) -> Option<ClientJsonRpcMessage> {
        loop {
            match self.read_line().await {
                Ok(Line::Complete) => {}
                Ok(Line::TooLong(seen)) => {
                    tracing::warn!(bytes = seen, "refused a message longer than the limit");
                    self.answer(error_answer(
                        Value::Null,
                        INVALID_REQUEST,
                        format!(
                            "message too large: more than {} bytes (the limit is {} MiB); send smaller arguments",
                            self.max_line,
                            self.max_line / (1024 * 1024)
                        ),
                    ));
                    continue;
                }
                Ok(Line::End) => {
                    for task in std::mem::take(&mut self.answering) {
                        let _ = task.await;
                    }
                    return None;
                }
                Err(e) => {
                    tracing::error!("cannot read the protocol channel: {e}");
                    return None;
                }
            }
            let line = std::mem::take(&mut self.line);
            match decode(&line) {
                Decoded::Message(message) => return Some(*message),
                Decoded::Skip => {}
                Decoded::Answer(answer) => self.answer(answer),
            }
            // Keep the buffer's capacity for the next line unless it was a big one.
            if line.capacity() <= 1024 * 1024 {
                self.line = line;
                self.line.clear();
            }
        }
    }

    async fn close(&mut self) -> Result<(), Self::Error> {
        self.writer.lock().await.shutdown().await
    }
}

/// What to do with one line.
pub enum Decoded {
    /// A well-formed message for rmcp.
    Message(Box<ClientJsonRpcMessage>),
    /// Nothing: a blank line, or a malformed notification (never answered).
    Skip,
    /// A JSON-RPC error answer to send back.
    Answer(Value),
}

/// Decode one line (with or without its newline) into a message, or the error
/// answer it deserves. Never panics, whatever the bytes.
pub fn decode(line: &[u8]) -> Decoded {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let line = line.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(line);
    if line.iter().all(u8::is_ascii_whitespace) {
        return Decoded::Skip;
    }
    let value: Value = match serde_json::from_slice(line) {
        Ok(value) => value,
        Err(e) => return Decoded::Answer(error_answer(Value::Null, PARSE_ERROR, format!("parse error: {e}"))),
    };
    let Value::Object(object) = &value else {
        let what = if value.is_array() {
            "batches are not supported by MCP; send one JSON-RPC message per line"
        } else {
            "a JSON-RPC message must be a JSON object"
        };
        return Decoded::Answer(error_answer(Value::Null, INVALID_REQUEST, format!("invalid request: {what}")));
    };
    // A response (the client answering a request of ours, or reporting an error) is
    // never answered back, however malformed: two peers that answered each other's
    // bad answers would never stop. rmcp decides what a well-formed one means.
    if !object.contains_key("method") && (object.contains_key("result") || object.contains_key("error")) {
        return match serde_json::from_value::<ClientJsonRpcMessage>(value) {
            Ok(message) => Decoded::Message(Box::new(message)),
            Err(e) => {
                tracing::debug!("skipped a malformed response: {e}");
                Decoded::Skip
            }
        };
    }
    // The id to answer with: a string or a number. A notification has none.
    let id = match object.get("id") {
        None => None,
        Some(id @ (Value::String(_) | Value::Number(_))) => Some(id.clone()),
        Some(other) => {
            return Decoded::Answer(error_answer(
                Value::Null,
                INVALID_REQUEST,
                format!("invalid request: `id` must be a string or a number, not {}", kind(other)),
            ));
        }
    };
    let refuse = |message: String| match &id {
        Some(id) => Decoded::Answer(error_answer(id.clone(), INVALID_REQUEST, format!("invalid request: {message}"))),
        None => {
            tracing::debug!("skipped a malformed notification: {message}");
            Decoded::Skip
        }
    };
    match object.get("jsonrpc") {
        Some(Value::String(v)) if v == "2.0" => {}
        Some(other) => return refuse(format!("`jsonrpc` must be \"2.0\", not {other}")),
        None => return refuse("`jsonrpc`: \"2.0\" is missing".into()),
    }
    let method = match object.get("method") {
        Some(Value::String(m)) => m.clone(),
        Some(other) => return refuse(format!("`method` must be a string, not {}", kind(other))),
        None => return refuse("`method` is missing".into()),
    };
    if let Some(params) = object.get("params")
        && !(params.is_object() || params.is_array())
    {
        return match &id {
            Some(id) => Decoded::Answer(error_answer(
                id.clone(),
                INVALID_PARAMS,
                format!("invalid params: `params` must be an object, not {}", kind(params)),
            )),
            None => Decoded::Skip,
        };
    }
    // A known method whose params do not fit its type parses as a custom request,
    // which rmcp would answer with "method not found": say what is wrong instead.
    match serde_json::from_value::<ClientJsonRpcMessage>(value) {
        Ok(JsonRpcMessage::Request(request))
            if let (ClientRequest::CustomRequest(custom), Some(id)) = (&request.request, &id)
                && let Some(problem) = params_problem(&method, custom.params.as_ref()) =>
        {
            Decoded::Answer(error_answer(id.clone(), INVALID_PARAMS, format!("invalid params for {method}: {problem}")))
        }
        Ok(message) => Decoded::Message(Box::new(message)),
        Err(e) => match &id {
            Some(id) => {
                Decoded::Answer(error_answer(id.clone(), INVALID_PARAMS, format!("invalid params for {method}: {e}")))
            }
            None => {
                tracing::debug!("skipped a malformed notification: {e}");
                Decoded::Skip
            }
        },
    }
}

/// Why `params` do not fit a method that needs them, for the methods with
/// required params this server answers.
fn params_problem(method: &str, params: Option<&Value>) -> Option<String> {
    fn check<T: serde::de::DeserializeOwned>(params: Option<&Value>) -> Option<String> {
        let Some(params) = params else { return Some("`params` is missing".into()) };
        serde_json::from_value::<T>(params.clone()).err().map(|e| e.to_string())
    }
    match method {
        "tools/call" => check::<rmcp::model::CallToolRequestParams>(params),
        "initialize" => check::<rmcp::model::InitializeRequestParams>(params),
        _ => None,
    }
}

fn error_answer(id: Value, code: i64, message: String) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message}})
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(line: &str) -> Value {
        match decode(line.as_bytes()) {
            Decoded::Answer(a) => a,
            Decoded::Message(m) => panic!("{line} decoded as {m:?}"),
            Decoded::Skip => panic!("{line} was skipped"),
        }
    }

    #[test]
    fn each_kind_of_bad_line_gets_its_error() {
        let cases = [
            ("not json", -32700, Value::Null, "parse error"),
            ("{\"jsonrpc\":\"2.0\",\"id\":1,", -32700, Value::Null, "EOF"),
            ("[1, 2]", -32600, Value::Null, "batches"),
            ("[]", -32600, Value::Null, "batches"),
            ("42", -32600, Value::Null, "JSON object"),
            (r#"{"id":5,"method":"tools/list"}"#, -32600, json!(5), "jsonrpc"),
            (r#"{"jsonrpc":"1.0","id":"a","method":"ping"}"#, -32600, json!("a"), "\"2.0\""),
            (r#"{"jsonrpc":"2.0","id":6}"#, -32600, json!(6), "method"),
            (r#"{"jsonrpc":"2.0","id":7,"method":3}"#, -32600, json!(7), "method"),
            (r#"{"jsonrpc":"2.0","id":{"x":1},"method":"ping"}"#, -32600, Value::Null, "id"),
            (r#"{"jsonrpc":"2.0","id":8,"method":"tools/call","params":"x"}"#, -32602, json!(8), "params"),
            (r#"{"jsonrpc":"2.0","id":9,"method":"tools/call","params":{"arguments":{}}}"#, -32602, json!(9), "name"),
        ];
        for (line, code, id, says) in cases {
            let a = answer(line);
            assert_eq!(a["jsonrpc"], "2.0", "{line}: {a}");
            assert_eq!(a["error"]["code"], code, "{line}: {a}");
            assert_eq!(a["id"], id, "{line}: {a}");
            assert!(a["error"]["message"].as_str().is_some_and(|m| m.contains(says)), "{line}: {a}");
        }
    }

    #[test]
    fn good_messages_pass_and_bad_notifications_are_not_answered() {
        for line in [
            r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#,
            "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}\r\n",
            "\u{feff}{\"jsonrpc\":\"2.0\",\"id\":\"x\",\"method\":\"no/such/method\"}",
            r#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"get_cluster","arguments":{}}}"#,
        ] {
            assert!(matches!(decode(line.as_bytes()), Decoded::Message(_)), "{line}");
        }
        for line in ["", "   ", r#"{"method":"notifications/initialized"}"#, r#"{"jsonrpc":"2.0","method":7}"#] {
            assert!(matches!(decode(line.as_bytes()), Decoded::Skip), "{line:?}");
        }
        // Responses, however malformed, are never answered: answering a peer's answer
        // to one of our error answers could go on forever.
        for line in [
            r#"{"jsonrpc":"2.0","id":null,"error":{"code":-32600,"message":"no"}}"#,
            r#"{"jsonrpc":"2.0","id":{"x":1},"result":{}}"#,
            r#"{"jsonrpc":"1.0","id":3,"result":{}}"#,
            r#"{"id":4,"error":"not an object"}"#,
        ] {
            assert!(!matches!(decode(line.as_bytes()), Decoded::Answer(_)), "{line:?}");
        }
    }

    #[tokio::test]
    async fn a_line_over_the_limit_is_refused_and_the_next_one_read() {
        let long = format!(
            "{{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\",\"params\":{{\"pad\":\"{}\"}}}}\n",
            "x".repeat(300)
        );
        let input = format!("{long}{}\n", r#"{"jsonrpc":"2.0","id":2,"method":"ping"}"#);
        let (client, server) = tokio::io::duplex(1024);
        let (mut out_read, out_write) = tokio::io::duplex(4096);
        let mut transport = LineTransport::with_max_line(server, out_write, 100);
        let writer = tokio::spawn(async move {
            let mut client = client;
            client.write_all(input.as_bytes()).await.expect("write");
        });
        let message = transport.receive().await.expect("the second line");
        assert!(format!("{message:?}").contains("Number(2)"), "{message:?}");
        writer.await.expect("written");
        let mut answer = String::new();
        let mut reader = BufReader::new(&mut out_read);
        reader.read_line(&mut answer).await.expect("an answer");
        let answer: Value = serde_json::from_str(&answer).expect("JSON");
        assert_eq!(answer["error"]["code"], -32600);
        assert!(answer["error"]["message"].as_str().is_some_and(|m| m.contains("too large")), "{answer}");
    }
}
