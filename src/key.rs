//! Signing keys and key rings: reading key text, files and the
//! environment, key ids, and writing new key files.
//!
//! Key ids are specified in `signing.md`; the domain string below is part
//! of the on-disk format and must never change. What is computed from a
//! secret (stream keys, record signatures) is the concern of `crate::mac`.

use std::fmt;
use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::path::Path;

use base64::Engine;
use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use sha2::{Digest, Sha256};

use crate::error::{Error, ErrorKind};

/// Minimum length of a signing secret, in bytes.
pub const MIN_KEY_BYTES: usize = 32;

const KID_DOMAIN: &[u8] = b"evtrail/v1 kid\x00";

const MAX_ID_LEN: usize = 64;

// Key files are written by hand or by other tools, so accept either padding
// style rather than making users fix the text.
const BASE64_CONFIG: GeneralPurposeConfig =
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent);
const BASE64_STANDARD: GeneralPurpose = GeneralPurpose::new(&alphabet::STANDARD, BASE64_CONFIG);
const BASE64_URL_SAFE: GeneralPurpose = GeneralPurpose::new(&alphabet::URL_SAFE, BASE64_CONFIG);

/// A signing secret with its key id.
///
/// The key id is written as `kid` into every record signed with the key, so
/// a verifier can pick the right key from a [`Keyring`]. By default it is a
/// fingerprint of the secret; [`Key::with_id`] sets a chosen one.
///
/// `Debug` shows only the id, never key material.
#[derive(Clone)]
pub struct Key {
    id: String,
    secret: Vec<u8>,
}

impl Key {
    /// A key from raw secret bytes; its id is the secret's fingerprint.
    ///
    /// # Errors
    ///
    /// An error of kind [`Config`](ErrorKind::Config) if the secret is
    /// shorter than 32 bytes.
    pub fn from_bytes(secret: impl Into<Vec<u8>>) -> Result<Key, Error> {
        let secret = secret.into();
        if secret.len() < MIN_KEY_BYTES {
            return Err(Error::config(format!(
                "key is {} bytes; at least {MIN_KEY_BYTES} are required",
                secret.len()
            )));
        }
        Ok(Key {
            id: fingerprint(&secret),
            secret,
        })
    }

    /// Parses key text: hex (either case) or base64 (standard or URL-safe
    /// alphabet, padding optional). Surrounding whitespace is ignored.
    ///
    /// Text made only of hex digits is read as hex, so that a hex key with a
    /// digit missing is reported rather than silently decoded as base64.
    /// `ID:SECRET` sets the key id too; that is the form
    /// [`write_new_file`](Self::write_new_file) writes.
    ///
    /// # Errors
    ///
    /// An error of kind [`Config`](ErrorKind::Config) if the text is neither
    /// hex nor base64, or decodes to fewer than 32 bytes. The message never
    /// contains the key text.
    ///
    /// # Examples
    ///
    /// ```
    /// let key = evtrail::Key::parse(&"ab".repeat(32))?;
    /// assert!(key.id().starts_with('k'));
    ///
    /// // The same 32 bytes as base64 give the same key.
    /// let same = evtrail::Key::parse("q6urq6urq6urq6urq6urq6urq6urq6urq6urq6urq6s=")?;
    /// assert_eq!(key.id(), same.id());
    ///
    /// assert!(evtrail::Key::parse("too short").is_err());
    ///
    /// let named = evtrail::Key::parse(&format!("ops-2026:{}", "ab".repeat(32)))?;
    /// assert_eq!(named.id(), "ops-2026");
    /// # Ok::<(), evtrail::Error>(())
    /// ```
    pub fn parse(text: &str) -> Result<Key, Error> {
        let text = text.trim();
        // `ID:SECRET`: neither hex nor base64 uses `:`, so the split is unambiguous.
        match text.split_once(':') {
            Some((id, secret)) => {
                Key::from_bytes(decode_key_text(secret.trim())?)?.with_id(id.trim())
            }
            None => Key::from_bytes(decode_key_text(text)?),
        }
    }

    /// Reads key text (see [`Key::parse`]) from the environment variable
    /// `var`.
    ///
    /// # Errors
    ///
    /// An error of kind [`Config`](ErrorKind::Config), naming the variable,
    /// if it is not set, is not UTF-8, or does not hold a valid key.
    pub fn from_env(var: &str) -> Result<Key, Error> {
        // `var_os` rather than `var`: `VarError` would echo the value, which
        // is the secret, into the error message.
        let value = std::env::var_os(var)
            .ok_or_else(|| Error::config(format!("environment variable `{var}` is not set")))?;
        let text = value.to_str().ok_or_else(|| {
            Error::config(format!("environment variable `{var}` is not valid UTF-8"))
        })?;
        Key::parse(text).map_err(|e| Error::config(format!("environment variable `{var}`: {e}")))
    }

    /// Reads key text (see [`Key::parse`]) from the file at `path`.
    ///
    /// On Unix, if the file grants any permission to its group or to others,
    /// a one-line warning is printed to standard error; the key is still
    /// loaded.
    ///
    /// # Errors
    ///
    /// An error of kind [`Io`](ErrorKind::Io), naming the path, if the file
    /// cannot be read; of kind [`Config`](ErrorKind::Config), naming the path,
    /// if its content is not a valid key.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Key, Error> {
        let path = path.as_ref();
        let bytes = fs::read(path).map_err(|e| {
            Error::with_source(
                ErrorKind::Io,
                format!("cannot read key file `{}`", path.display()),
                e,
            )
        })?;
        if let Some(warning) = permissions_warning(path) {
            eprintln!("evtrail: {warning}");
        }
        let text = std::str::from_utf8(&bytes).map_err(|_| {
            Error::config(format!("key file `{}` is not UTF-8 text", path.display()))
        })?;
        Key::parse(text).map_err(|e| Error::config(format!("key file `{}`: {e}", path.display())))
    }

    /// A new random 32-byte key from the operating system's random number
    /// generator.
    ///
    /// # Errors
    ///
    /// An error of kind [`Io`](ErrorKind::Io) if the operating system's
    /// generator fails.
    pub fn generate() -> Result<Key, Error> {
        let mut secret = vec![0u8; MIN_KEY_BYTES];
        getrandom::fill(&mut secret).map_err(|e| {
            Error::with_source(
                ErrorKind::Io,
                "the operating system's random number generator failed",
                e,
            )
        })?;
        Key::from_bytes(secret)
    }

    /// Replaces the key id.
    ///
    /// # Errors
    ///
    /// An error of kind [`Config`](ErrorKind::Config) unless the id is 1 to
    /// 64 ASCII letters, digits, `.`, `_` or `-`. The restriction keeps ids
    /// safe to embed in JSON and file names without escaping.
    pub fn with_id(self, id: impl Into<String>) -> Result<Key, Error> {
        let id = id.into();
        let valid = !id.is_empty()
            && id.len() <= MAX_ID_LEN
            && id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
        if !valid {
            return Err(Error::config(format!(
                "invalid key id {id:?}: it must be 1 to {MAX_ID_LEN} ASCII letters, digits, '.', '_' or '-'"
            )));
        }
        Ok(Key { id, ..self })
    }

    /// The key id, written as `kid` in every record signed with this key.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The secret as lower-case hex text, the format `evtrail keygen` writes.
    pub fn to_hex(&self) -> String {
        hex(&self.secret)
    }

    /// Writes the key as `ID:HEX` and a newline to a new file at `path`,
    /// created with mode 0600 on Unix (default permissions elsewhere), and
    /// syncs it to disk.
    ///
    /// # Errors
    ///
    /// An error of kind [`Io`](ErrorKind::Io), naming the path, if the file
    /// already exists (it is never overwritten) or cannot be created, written
    /// or synced.
    pub fn write_new_file(&self, path: impl AsRef<Path>) -> Result<(), Error> {
        let path = path.as_ref();
        let mut options = OpenOptions::new();
        // `create_new` makes the existence check and the creation one atomic
        // step, so an existing key is never clobbered by a race.
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            // Set at creation: a chmod afterwards would leave a window in
            // which the secret is readable by others.
            options.mode(0o600);
        }
        let mut file = options.open(path).map_err(|e| {
            let message = if e.kind() == io::ErrorKind::AlreadyExists {
                format!(
                    "key file `{}` already exists; refusing to overwrite it",
                    path.display()
                )
            } else {
                format!("cannot create key file `{}`", path.display())
            };
            Error::with_source(ErrorKind::Io, message, e)
        })?;
        let mut text = format!("{}:{}", self.id, self.to_hex());
        text.push('\n');
        if let Err(e) = file
            .write_all(text.as_bytes())
            .and_then(|()| file.sync_all())
        {
            drop(file);
            // A truncated key file would later load as a different (or no)
            // key, and would make a retry fail with "already exists".
            let _ = fs::remove_file(path);
            return Err(Error::with_source(
                ErrorKind::Io,
                format!("cannot write key file `{}`", path.display()),
                e,
            ));
        }
        Ok(())
    }

    pub(crate) fn secret(&self) -> &[u8] {
        &self.secret
    }
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Key")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

/// The warning for a key file that grants any permission to its group or
/// to others, or `None` when it does not (or its mode cannot be read: the
/// read itself will report that).
#[cfg(unix)]
pub(crate) fn permissions_warning(path: &Path) -> Option<String> {
    use std::os::unix::fs::PermissionsExt;
    let mode = fs::metadata(path).ok()?.permissions().mode() & 0o7777;
    (mode & 0o077 != 0).then(|| {
        format!(
            "key file `{}` is readable by others (mode {mode:04o}); restrict it to 0600",
            path.display()
        )
    })
}

/// The warning for a key file that grants any permission to its group or
/// to others; never given on this platform, which has no Unix modes.
#[cfg(not(unix))]
pub(crate) fn permissions_warning(_path: &Path) -> Option<String> {
    None
}

/// Decodes trimmed key text to bytes, without checking the length.
fn decode_key_text(text: &str) -> Result<Vec<u8>, Error> {
    if text.is_empty() {
        return Err(Error::config("key text is empty"));
    }
    if text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return decode_hex(text.as_bytes()).ok_or_else(|| {
            Error::config("key text looks like hex but has an odd number of digits")
        });
    }
    BASE64_STANDARD
        .decode(text)
        .or_else(|_| BASE64_URL_SAFE.decode(text))
        .map_err(|_| Error::config("key text is neither hex nor base64"))
}

/// Decodes hex digits (either case); `None` for an odd count or a non-digit.
fn decode_hex(digits: &[u8]) -> Option<Vec<u8>> {
    if !digits.len().is_multiple_of(2) {
        return None;
    }
    digits
        .chunks_exact(2)
        .map(|pair| {
            let hi = char::from(pair[0]).to_digit(16)?;
            let lo = char::from(pair[1]).to_digit(16)?;
            u8::try_from(hi << 4 | lo).ok()
        })
        .collect()
}

/// The default key id: `k` followed by the first 16 lower-case hex digits of
/// SHA-256("evtrail/v1 kid" || 0x00 || secret).
pub(crate) fn fingerprint(secret: &[u8]) -> String {
    let digest = Sha256::new()
        .chain_update(KID_DOMAIN)
        .chain_update(secret)
        .finalize();
    format!("k{}", hex(&digest[..8]))
}

/// `bytes` as lower-case hex. Keys and their fingerprints are encoded a
/// few times per process, so plain formatting does.
pub(crate) fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut text, b| {
            // Writing to a String cannot fail.
            let _ = write!(text, "{b:02x}");
            text
        })
}

/// Several keys by id, for verifying logs written across key rotations.
///
/// `Debug` shows only the key ids.
///
/// # Examples
///
/// ```
/// use evtrail::{Key, Keyring};
///
/// let old = Key::parse(&"11".repeat(32))?.with_id("2024")?;
/// let new = Key::parse(&"22".repeat(32))?.with_id("2025")?;
/// let ring = Keyring::new().with(old).with(new);
///
/// assert_eq!(ring.len(), 2);
/// assert!(ring.get("2024").is_some());
/// assert!(ring.get("2023").is_none());
/// assert_eq!(ring.ids().collect::<Vec<_>>(), ["2024", "2025"]);
/// # Ok::<(), evtrail::Error>(())
/// ```
#[derive(Clone, Default)]
pub struct Keyring {
    keys: Vec<Key>,
}

impl Keyring {
    /// An empty keyring.
    pub fn new() -> Keyring {
        Keyring::default()
    }

    /// Adds a key; a key with the same id replaces the old one (keeping its
    /// place in [`ids`](Keyring::ids)).
    pub fn add(&mut self, key: Key) -> &mut Keyring {
        match self.keys.iter_mut().find(|k| k.id == key.id) {
            Some(slot) => *slot = key,
            None => self.keys.push(key),
        }
        self
    }

    /// Adds a key, builder style; see [`add`](Keyring::add).
    #[must_use]
    pub fn with(mut self, key: Key) -> Keyring {
        self.add(key);
        self
    }

    /// The key with id `id`, if any.
    pub fn get(&self, id: &str) -> Option<&Key> {
        self.keys.iter().find(|k| k.id == id)
    }

    /// The number of keys.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether the keyring holds no keys.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The key ids, in the order the keys were first added.
    pub fn ids(&self) -> impl Iterator<Item = &str> {
        self.keys.iter().map(Key::id)
    }
}

impl fmt::Debug for Keyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keyring")
            .field("ids", &self.ids().collect::<Vec<_>>())
            .finish()
    }
}

impl FromIterator<Key> for Keyring {
    fn from_iter<I: IntoIterator<Item = Key>>(iter: I) -> Keyring {
        let mut ring = Keyring::new();
        for key in iter {
            ring.add(key);
        }
        ring
    }
}

// Here rather than in `mac`, which knows secrets only as bytes: this is
// where a `Key` meets the MAC it feeds.
impl crate::mac::StreamMac {
    /// The MAC of `stream` for `key`'s secret.
    pub(crate) fn new(key: &Key, stream: &str) -> crate::mac::StreamMac {
        crate::mac::StreamMac::from_secret(key.secret(), stream)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mac::tests::{plain_hex, secret_0_to_31, sign_str};
    use crate::mac::{GENESIS, StreamMac};

    /// A key signs with its secret's MAC, and its default id is pinned:
    /// both are written into every record.
    #[test]
    fn a_key_has_the_pinned_kid_and_signs_with_its_secret() {
        let key = Key::from_bytes(secret_0_to_31()).unwrap();
        assert_eq!(key.id(), "kbb87b70ad8a505cf");
        assert_eq!(
            std::str::from_utf8(&sign_str(
                &StreamMac::new(&key, "app"),
                &GENESIS,
                br#"{"v":1}"#
            ))
            .unwrap(),
            "zLvw9puWyRLeJqOvbPsAJ_28RByEgvBYVlX4EenvzWk"
        );
    }

    #[test]
    fn hex_is_lower_case_and_complete() {
        assert_eq!(hex(&[0x00, 0x0f, 0xa0, 0xff]), "000fa0ff");
        let bytes: Vec<u8> = (0..=255).collect();
        let text = hex(&bytes);
        assert_eq!(text.len(), 512);
        assert_eq!(&text[..6], "000102");
        assert_eq!(&text[506..], "fdfeff");
    }

    #[test]
    fn parse_accepts_hex_and_base64_alike() {
        let secret: Vec<u8> = (0xe0..=0xff).collect();
        let expected = fingerprint(&secret);
        let hex = plain_hex(&secret);
        let texts = [
            hex.clone(),
            hex.to_ascii_uppercase(),
            format!("  \n{hex}\r\n\t"),
            "4OHi4+Tl5ufo6err7O3u7/Dx8vP09fb3+Pn6+/z9/v8=".to_owned(),
            "4OHi4+Tl5ufo6err7O3u7/Dx8vP09fb3+Pn6+/z9/v8".to_owned(),
            "4OHi4-Tl5ufo6err7O3u7_Dx8vP09fb3-Pn6-_z9_v8=".to_owned(),
            "4OHi4-Tl5ufo6err7O3u7_Dx8vP09fb3-Pn6-_z9_v8".to_owned(),
            "4OHi4-Tl5ufo6err7O3u7_Dx8vP09fb3-Pn6-_z9_v8=\n".to_owned(),
        ];
        for text in &texts {
            let key = Key::parse(text).unwrap_or_else(|e| panic!("{text:?}: {e}"));
            assert_eq!(key.id(), expected, "{text:?}");
            assert_eq!(key.secret(), secret, "{text:?}");
        }
        assert_eq!(Key::parse(&hex).unwrap().to_hex(), hex);
    }

    #[test]
    fn parse_rejects_short_and_garbage_text_without_echoing_it() {
        let short = Key::parse(&"ab".repeat(31)).unwrap_err();
        assert_eq!(short.kind(), ErrorKind::Config);
        assert!(short.to_string().contains("31 bytes"), "{short}");
        assert!(Key::from_bytes(vec![1u8; 31]).is_err());
        assert!(Key::from_bytes(vec![1u8; 32]).is_ok());

        let garbage = "not-a-key!!s3cr3t-p@ssw0rd";
        let e = Key::parse(garbage).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Config);
        assert!(!e.to_string().contains("s3cr3t"), "{e}");
        assert!(!format!("{e:?}").contains("s3cr3t"), "{e:?}");
        assert!(e.to_string().contains("neither hex nor base64"), "{e}");

        let odd_hex = Key::parse(&"a".repeat(63)).unwrap_err();
        assert!(odd_hex.to_string().contains("odd number"), "{odd_hex}");
        assert!(Key::parse("   ").is_err());
        assert!(Key::parse(&format!("{} {}", "ab".repeat(16), "ab".repeat(16))).is_err());
    }

    #[test]
    fn from_env_names_the_variable() {
        let var = "EVTRAIL_KEY_RS_TEST_UNSET_VARIABLE";
        let e = Key::from_env(var).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Config);
        assert!(e.to_string().contains(var), "{e}");
    }

    #[test]
    fn debug_never_shows_key_material() {
        let secret = vec![0xabu8; 32];
        let key = Key::from_bytes(secret.clone()).unwrap();
        let hex = key.to_hex();
        let ring = Keyring::new().with(key.clone());
        for text in [format!("{key:?}"), format!("{key:#?}"), format!("{ring:?}")] {
            assert!(text.contains(key.id()), "{text}");
            assert!(!text.contains(&hex[..8]), "{text}");
            assert!(!text.contains("171, 171"), "{text}");
            assert!(
                !text.contains(&String::from_utf8_lossy(&secret).to_string()),
                "{text}"
            );
        }
    }

    #[test]
    fn with_id_validates() {
        let key = || Key::from_bytes(secret_0_to_31()).unwrap();
        assert_eq!(
            key().with_id("prod-2025.01_a").unwrap().id(),
            "prod-2025.01_a"
        );
        assert_eq!(key().with_id("x".repeat(64)).unwrap().id().len(), 64);
        for bad in ["", "has space", "quote\"", "slash/", "ünï", "tab\t"] {
            let e = key().with_id(bad).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Config, "{bad:?}");
        }
        assert!(key().with_id("x".repeat(65)).is_err());
        assert_eq!(key().with_id("a").unwrap().secret(), secret_0_to_31());
    }

    #[test]
    fn fingerprint_is_k_and_16_lower_hex_digits() {
        for secret in [vec![0u8; 32], vec![0xffu8; 48], secret_0_to_31()] {
            let id = fingerprint(&secret);
            assert_eq!(id.len(), 17, "{id}");
            assert!(id.starts_with('k'), "{id}");
            assert!(
                id[1..]
                    .bytes()
                    .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')),
                "{id}"
            );
            assert_eq!(Key::from_bytes(secret.clone()).unwrap().id(), id);
        }
        assert_ne!(fingerprint(&[0u8; 32]), fingerprint(&[1u8; 32]));
        // A fingerprint must itself be a valid id.
        let key = Key::from_bytes(vec![0u8; 32]).unwrap();
        let id = key.id().to_owned();
        assert!(key.with_id(id).is_ok());
    }

    #[test]
    fn generate_gives_distinct_full_length_keys() {
        let a = Key::generate().unwrap();
        let b = Key::generate().unwrap();
        assert_eq!(a.secret().len(), MIN_KEY_BYTES);
        assert_ne!(a.secret(), b.secret());
        assert_ne!(a.id(), b.id());
    }

    #[cfg(unix)]
    fn write_with_mode(path: &Path, text: &str, mode: u32) {
        use std::os::unix::fs::PermissionsExt;
        fs::write(path, text).unwrap();
        fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
    }

    #[cfg(unix)]
    #[test]
    fn from_file_warns_only_about_open_permissions() {
        let dir = tempfile::tempdir().unwrap();
        let text = format!("{}\n", "cd".repeat(32));

        let private = dir.path().join("private.key");
        write_with_mode(&private, &text, 0o600);
        assert_eq!(permissions_warning(&private), None);
        let key = Key::from_file(&private).unwrap();
        assert_eq!(key.to_hex(), "cd".repeat(32));

        let open = dir.path().join("open.key");
        write_with_mode(&open, &text, 0o644);
        let warning = permissions_warning(&open).unwrap();
        assert!(warning.contains("(mode 0644)"), "{warning}");
        assert!(warning.contains(&open.display().to_string()), "{warning}");
        assert!(warning.ends_with("restrict it to 0600"), "{warning}");
        assert_eq!(Key::from_file(&open).unwrap().id(), key.id());

        let group_only = dir.path().join("group.key");
        write_with_mode(&group_only, &text, 0o640);
        assert!(
            permissions_warning(&group_only)
                .unwrap()
                .contains("(mode 0640)")
        );
    }

    #[test]
    fn from_file_errors_name_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.key");
        let e = Key::from_file(&missing).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Io);
        assert!(
            e.to_string().contains(&missing.display().to_string()),
            "{e}"
        );
        assert!(std::error::Error::source(&e).is_some());

        let bad = dir.path().join("bad.key");
        fs::write(&bad, "hunter2-is-my-key\n").unwrap();
        let e = Key::from_file(&bad).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Config);
        assert!(e.to_string().contains(&bad.display().to_string()), "{e}");
        assert!(!e.to_string().contains("hunter2"), "{e}");
    }

    #[test]
    fn write_new_file_is_private_round_trips_and_never_overwrites() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("new.key");
        let key = Key::generate().unwrap();
        key.write_new_file(&path).unwrap();

        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
            assert_eq!(permissions_warning(&path), None);
        }
        assert_eq!(
            fs::read_to_string(&path).unwrap(),
            format!("{}:{}\n", key.id(), key.to_hex())
        );
        let loaded = Key::from_file(&path).unwrap();
        assert_eq!(loaded.secret(), key.secret());
        assert_eq!(loaded.id(), key.id());

        // A chosen id survives the round trip.
        let named_path = dir.path().join("named.key");
        let named = Key::generate().unwrap().with_id("ops-1").unwrap();
        named.write_new_file(&named_path).unwrap();
        assert_eq!(Key::from_file(&named_path).unwrap().id(), "ops-1");

        let other = Key::generate().unwrap();
        let e = other.write_new_file(&path).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Io);
        assert!(e.to_string().contains("already exists"), "{e}");
        assert!(e.to_string().contains(&path.display().to_string()), "{e}");
        assert_eq!(Key::from_file(&path).unwrap().secret(), key.secret());
    }

    #[test]
    fn keyring_adds_replaces_and_gets() {
        let a = Key::from_bytes(vec![1u8; 32])
            .unwrap()
            .with_id("a")
            .unwrap();
        let b = Key::from_bytes(vec![2u8; 32])
            .unwrap()
            .with_id("b")
            .unwrap();
        let a2 = Key::from_bytes(vec![3u8; 32])
            .unwrap()
            .with_id("a")
            .unwrap();

        let mut ring = Keyring::new();
        assert!(ring.is_empty());
        assert!(ring.get("a").is_none());
        ring.add(a.clone()).add(b.clone());
        assert_eq!(ring.len(), 2);
        assert_eq!(ring.get("a").unwrap().secret(), a.secret());
        assert_eq!(ring.get("b").unwrap().secret(), b.secret());

        ring.add(a2.clone());
        assert_eq!(ring.len(), 2);
        assert_eq!(ring.get("a").unwrap().secret(), a2.secret());
        assert_eq!(ring.ids().collect::<Vec<_>>(), ["a", "b"]);
        assert!(ring.get("c").is_none());

        let collected: Keyring = [a, b, a2.clone()].into_iter().collect();
        assert_eq!(collected.len(), 2);
        assert_eq!(collected.get("a").unwrap().secret(), a2.secret());
        assert_eq!(format!("{collected:?}"), r#"Keyring { ids: ["a", "b"] }"#);
    }
}
