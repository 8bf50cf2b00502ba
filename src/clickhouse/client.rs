//! Talking to ClickHouse's HTTP interface: sending one statement, reading
//! its answer line by line as it streams in, and turning every failure
//! into an error that names the server and the table — never the
//! password.

use std::io::{BufRead, BufReader, Read};
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;

use crate::error::{Error, ErrorKind};

/// How long connecting may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long the server may think before its answer starts (a `GROUP BY`
/// over a large table).
const ANSWER_TIMEOUT: Duration = Duration::from_secs(300);
/// How much of an error answer is read for its message.
const ERROR_BODY_MAX: u64 = 4096;

/// Where the rows are: the server and the table, as errors name them.
#[derive(Clone, Debug)]
pub(crate) struct Place {
    /// `host:port` (no user name, no password).
    pub(crate) server: String,
    /// The table, as given (`logs.events`).
    pub(crate) table: String,
}

impl Place {
    /// `ClickHouse at 127.0.0.1:8123, table `logs.events``.
    pub(crate) fn describe(&self) -> String {
        format!("ClickHouse at {}, table `{}`", self.server, self.table)
    }
}

/// One server's HTTP interface.
pub(crate) struct Client {
    agent: ureq::Agent,
    /// The URL without its user information.
    url: String,
    /// `Basic …` when the URL named a user.
    auth: Option<String>,
    pub(crate) place: Arc<Place>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The credentials stay out of `Debug`.
        f.debug_struct("Client")
            .field("url", &self.url)
            .field("place", &self.place)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// A client for the server at `url` (`http://[user[:password]@]host:port/`).
    pub(crate) fn new(url: &str, table: &str) -> Result<Client, Error> {
        let rest = url.strip_prefix("http://").ok_or_else(|| {
            Error::config(format!(
                "the ClickHouse address must start with `http://` (its HTTP interface), got `{}`",
                without_password(url)
            ))
        })?;
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        let (userinfo, server) = match authority.rfind('@') {
            Some(i) => (Some(&authority[..i]), &authority[i + 1..]),
            None => (None, authority),
        };
        if server.is_empty() {
            return Err(Error::config(format!(
                "the ClickHouse address `{}` names no server",
                without_password(url)
            )));
        }
        let auth = userinfo.map(|info| {
            let (user, password) = info.split_once(':').unwrap_or((info, ""));
            let text = format!("{}:{}", percent_decode(user), percent_decode(password));
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(text)
            )
        });
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_connect(Some(CONNECT_TIMEOUT))
            .timeout_recv_response(Some(ANSWER_TIMEOUT))
            .http_status_as_error(false)
            .build()
            .into();
        Ok(Client {
            agent,
            url: format!("http://{server}{path}"),
            auth,
            place: Arc::new(Place {
                server: server.to_owned(),
                table: table.to_owned(),
            }),
        })
    }

    /// Sends `sql` and returns its answer, to be read line by line.
    pub(crate) fn send(&self, sql: &str) -> Result<Answer, Error> {
        let mut request = self.agent.post(&self.url);
        if let Some(auth) = &self.auth {
            request = request.header("Authorization", auth);
        }
        let response = request.send(sql.as_bytes()).map_err(|e| {
            Error::with_source(
                ErrorKind::Io,
                format!("cannot reach {}", self.place.describe()),
                Scrubbed(e.to_string()),
            )
        })?;
        let status = response.status().as_u16();
        let mut body = response.into_body().into_reader();
        if status != 200 {
            let mut text = String::new();
            let _ = (&mut body).take(ERROR_BODY_MAX).read_to_string(&mut text);
            return Err(refusal(&self.place, status, &text));
        }
        Ok(Answer {
            reader: BufReader::with_capacity(256 * 1024, Box::new(body)),
            place: Arc::clone(&self.place),
            line: Vec::new(),
        })
    }
}

/// An error's cause as text, so that no foreign error type (nor anything
/// it holds) travels on.
#[derive(Debug)]
struct Scrubbed(String);

impl std::fmt::Display for Scrubbed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Scrubbed {}

/// The error for an answer with status `status` whose body is `text`.
fn refusal(place: &Place, status: u16, text: &str) -> Error {
    let message = text.lines().next().unwrap_or("").trim();
    let code = message
        .strip_prefix("Code: ")
        .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|n| n.parse::<u32>().ok());
    let what = match code {
        // Unknown user (192), wrong password (193, before 19.x), and
        // authentication failed (516, from then on).
        Some(192 | 193 | 516) => format!(
            "{} refused the user name or password (code {})",
            place.describe(),
            code.unwrap_or(0)
        ),
        Some(60) => format!(
            "{}: the table does not exist on that server",
            place.describe()
        ),
        Some(81) => format!(
            "{}: the table's database does not exist on that server",
            place.describe()
        ),
        Some(47 | 16) => format!(
            "{}: the table lacks a column evtrail stores records in; \
             create it with `ClickHouse::create_table`",
            place.describe()
        ),
        _ => format!("{} answered HTTP {status}", place.describe()),
    };
    Error::with_source(
        ErrorKind::Io,
        what,
        Scrubbed(if message.is_empty() {
            format!("HTTP {status}")
        } else {
            message.to_owned()
        }),
    )
}

/// A statement's answer, read as it arrives.
pub(crate) struct Answer {
    reader: BufReader<Box<dyn Read + Send>>,
    place: Arc<Place>,
    line: Vec<u8>,
}

impl Answer {
    /// The next line of the answer, without its newline; `None` at its
    /// end.
    ///
    /// # Errors
    ///
    /// When the answer breaks off (the connection drops, the last line
    /// has no newline) or the server reports an error part-way through
    /// (it can only append it to what it already sent).
    pub(crate) fn next_line(&mut self) -> Result<Option<&[u8]>, Error> {
        self.line.clear();
        match self.reader.read_until(b'\n', &mut self.line) {
            Ok(0) => return Ok(None),
            Ok(_) => {}
            Err(e) => {
                return Err(Error::with_source(
                    ErrorKind::Io,
                    format!("{}: the answer broke off", self.place.describe()),
                    Scrubbed(e.to_string()),
                ));
            }
        }
        if self.line.last() != Some(&b'\n') {
            return Err(self.cut("the answer ends in the middle of a row"));
        }
        self.line.pop();
        if self.line.starts_with(b"Code: ") {
            let text = String::from_utf8_lossy(&self.line).into_owned();
            return Err(Error::with_source(
                ErrorKind::Io,
                format!(
                    "{} failed part-way through its answer",
                    self.place.describe()
                ),
                Scrubbed(text),
            ));
        }
        Ok(Some(&self.line))
    }

    /// The error for an answer that is not what was asked for.
    pub(crate) fn cut(&self, why: &str) -> Error {
        Error::new(
            ErrorKind::Malformed,
            format!("{}: {why}", self.place.describe()),
        )
    }

    /// Where the rows come from.
    pub(crate) fn place(&self) -> &Arc<Place> {
        &self.place
    }
}

/// `%XX` escapes in a URL's user information decoded (a password may hold
/// `@` or `:` written as `%40`, `%3A`).
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(hex) = text.get(i + 1..i + 3)
            && let Ok(b) = u8::from_str_radix(hex, 16)
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `url` with any password replaced by `***`, for messages.
pub(crate) fn without_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let end = rest.find('/').unwrap_or(rest.len());
    match rest[..end].rfind('@') {
        Some(at) => {
            let user = rest[..at].split(':').next().unwrap_or("");
            format!("{scheme}://{user}:***@{}", &rest[at + 1..])
        }
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_password_never_reaches_the_place_or_the_url() {
        let c = Client::new("http://reader:s%40cret@127.0.0.1:18123/", "t").unwrap();
        assert_eq!(c.place.server, "127.0.0.1:18123");
        assert_eq!(c.url, "http://127.0.0.1:18123/");
        assert!(!format!("{c:?}").contains("cret"));
        let expected = base64::engine::general_purpose::STANDARD.encode("reader:s@cret");
        assert_eq!(
            c.auth.as_deref(),
            Some(format!("Basic {expected}").as_str())
        );
        assert_eq!(
            without_password("http://reader:secret@h:1/"),
            "http://reader:***@h:1/"
        );
    }

    #[test]
    fn server_errors_are_named_by_their_code() {
        let place = Place {
            server: "h:1".into(),
            table: "t".into(),
        };
        let e = refusal(
            &place,
            401,
            "Code: 193, e.displayText() = DB::Exception: Wrong password",
        );
        assert!(
            e.to_string().contains("refused the user name or password"),
            "{e}"
        );
        let e = refusal(
            &place,
            404,
            "Code: 60, e.displayText() = Table default.t doesn't exist",
        );
        assert!(e.to_string().contains("does not exist"), "{e}");
        assert!(e.to_string().contains("table `t`"), "{e}");
    }

    #[test]
    fn addresses_other_than_http_are_refused() {
        let e = Client::new("https://u:pw@h/", "t").unwrap_err();
        assert!(!e.to_string().contains("pw"), "{e}");
        assert!(Client::new("http:///", "t").is_err());
    }
}
