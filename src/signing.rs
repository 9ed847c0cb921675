//! Signed configuration files (fleet configuration pushed by hospital IT).
//!
//! IT signs each config file with an ed25519 key (`kiosk config sign`),
//! which writes `FILE.sig` beside it: the base64 signature of the file's
//! exact bytes. A kiosk that has a trusted-keys file (one base64 public key
//! per line, `#` comments; `/etc/kiosk/trusted-keys` or `--trusted-keys`)
//! loads a config file only when its signature verifies with one of those
//! keys; an unsigned or changed file is refused with a message that names
//! the file. The trusted keys are never part of a config file, so a pushed
//! file cannot vouch for itself.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum SignError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} line {line}: not an ed25519 public key (32 bytes, base64)")]
    BadKey { path: PathBuf, line: usize },
    #[error("{0}: not an ed25519 signing key (32 bytes, base64)")]
    BadSecret(PathBuf),
    #[error("{0}: the trusted-keys file lists no key")]
    NoKeys(PathBuf),
    #[error("{file} is not signed ({sig} is missing): refused. Sign it with `kiosk config sign`")]
    Unsigned { file: PathBuf, sig: PathBuf },
    #[error("{sig} is not a signature (64 bytes, base64)")]
    BadSignatureFile { sig: PathBuf },
    #[error("{file} does not match its signature {sig} under any trusted key: it was changed after signing, or signed with an unknown key. Refused")]
    Tampered { file: PathBuf, sig: PathBuf },
    #[error("generating a key: {0}")]
    Random(String),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> SignError + '_ {
    move |source| SignError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Where a file's signature lives: `FILE.sig`.
pub fn sig_path(file: &Path) -> PathBuf {
    let mut s = file.as_os_str().to_owned();
    s.push(".sig");
    PathBuf::from(s)
}

/// The public keys a kiosk trusts for config files.
#[derive(Debug, Clone)]
pub struct TrustedKeys {
    keys: Vec<VerifyingKey>,
}

impl TrustedKeys {
    pub fn load(path: &Path) -> Result<TrustedKeys, SignError> {
        let text = std::fs::read_to_string(path).map_err(io(path))?;
        let mut keys = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            let bad = || SignError::BadKey {
                path: path.to_path_buf(),
                line: i + 1,
            };
            let bytes: [u8; 32] = B64
                .decode(line)
                .map_err(|_| bad())?
                .try_into()
                .map_err(|_| bad())?;
            keys.push(VerifyingKey::from_bytes(&bytes).map_err(|_| bad())?);
        }
        if keys.is_empty() {
            return Err(SignError::NoKeys(path.to_path_buf()));
        }
        Ok(TrustedKeys { keys })
    }

    /// `file` verifies against `FILE.sig` with one of the keys.
    pub fn verify_file(&self, file: &Path) -> Result<(), SignError> {
        let data = std::fs::read(file).map_err(io(file))?;
        let sig = sig_path(file);
        let text = match std::fs::read_to_string(&sig) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(SignError::Unsigned {
                    file: file.to_path_buf(),
                    sig,
                })
            }
            Err(e) => return Err(io(&sig)(e)),
        };
        let bytes: [u8; 64] = B64
            .decode(text.trim())
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| SignError::BadSignatureFile { sig: sig.clone() })?;
        let signature = Signature::from_bytes(&bytes);
        if self
            .keys
            .iter()
            .any(|k| k.verify(&data, &signature).is_ok())
        {
            Ok(())
        } else {
            Err(SignError::Tampered {
                file: file.to_path_buf(),
                sig,
            })
        }
    }
}

/// A new signing key: (secret, public), both base64.
pub fn keygen() -> Result<(String, String), SignError> {
    let mut seed = [0u8; 32];
    getrandom::getrandom(&mut seed).map_err(|e| SignError::Random(e.to_string()))?;
    let key = SigningKey::from_bytes(&seed);
    Ok((
        B64.encode(key.to_bytes()),
        B64.encode(key.verifying_key().to_bytes()),
    ))
}

fn signing_key(secret_file: &Path) -> Result<SigningKey, SignError> {
    let text = std::fs::read_to_string(secret_file).map_err(io(secret_file))?;
    let bytes: [u8; 32] = B64
        .decode(text.trim())
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| SignError::BadSecret(secret_file.to_path_buf()))?;
    Ok(SigningKey::from_bytes(&bytes))
}

/// Sign `file` with the key in `secret_file`; writes and returns `FILE.sig`.
pub fn sign_file(secret_file: &Path, file: &Path) -> Result<PathBuf, SignError> {
    let key = signing_key(secret_file)?;
    let data = std::fs::read(file).map_err(io(file))?;
    let sig = sig_path(file);
    std::fs::write(
        &sig,
        format!("{}\n", B64.encode(key.sign(&data).to_bytes())),
    )
    .map_err(io(&sig))?;
    Ok(sig)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signed_files_verify_and_changed_or_unsigned_ones_do_not() {
        let dir = tempfile::tempdir().unwrap();
        let (secret, public) = keygen().unwrap();
        let (_, other_public) = keygen().unwrap();
        let secret_file = dir.path().join("fleet.key");
        std::fs::write(&secret_file, &secret).unwrap();
        let trusted_file = dir.path().join("trusted-keys");
        std::fs::write(&trusted_file, format!("# IT 2026\n{public}\n")).unwrap();
        let trusted = TrustedKeys::load(&trusted_file).unwrap();
        let cfg = dir.path().join("hospital.toml");
        std::fs::write(&cfg, "[ui]\nidle_timeout_secs = 90\n").unwrap();

        // Unsigned.
        assert!(matches!(
            trusted.verify_file(&cfg),
            Err(SignError::Unsigned { .. })
        ));
        // Signed.
        let sig = sign_file(&secret_file, &cfg).unwrap();
        assert_eq!(sig, dir.path().join("hospital.toml.sig"));
        trusted.verify_file(&cfg).unwrap();
        // Changed by one byte after signing.
        std::fs::write(&cfg, "[ui]\nidle_timeout_secs = 99\n").unwrap();
        let e = trusted.verify_file(&cfg).unwrap_err();
        assert!(matches!(e, SignError::Tampered { .. }));
        assert!(e.to_string().contains("hospital.toml"), "{e}");
        // Signed by a key the kiosk does not trust.
        std::fs::write(&trusted_file, format!("{other_public}\n")).unwrap();
        sign_file(&secret_file, &cfg).unwrap();
        assert!(matches!(
            TrustedKeys::load(&trusted_file).unwrap().verify_file(&cfg),
            Err(SignError::Tampered { .. })
        ));
        // A garbage signature file and a garbage key file.
        std::fs::write(&sig, "not base64!").unwrap();
        assert!(matches!(
            trusted.verify_file(&cfg),
            Err(SignError::BadSignatureFile { .. })
        ));
        std::fs::write(&trusted_file, "AAAA\n").unwrap();
        assert!(matches!(
            TrustedKeys::load(&trusted_file),
            Err(SignError::BadKey { line: 1, .. })
        ));
        std::fs::write(&trusted_file, "# nothing\n").unwrap();
        assert!(matches!(
            TrustedKeys::load(&trusted_file),
            Err(SignError::NoKeys(_))
        ));
    }
}
