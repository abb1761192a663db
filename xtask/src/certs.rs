//! Test certificates, generated at `up` time: a CA, a server pair and a client pair.

use std::fs;
use std::path::Path;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose,
};

use crate::error::{Error, Result};
use crate::resp::TlsFiles;

/// The server-side files (certificate, key and the CA that checks optional client certs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ServerFiles {
    /// CA certificate (PEM).
    pub(crate) ca: std::path::PathBuf,
    /// Server certificate (PEM).
    pub(crate) cert: std::path::PathBuf,
    /// Server key (PEM).
    pub(crate) key: std::path::PathBuf,
}

/// Writes `ca.crt`, `server.{crt,key}` and `client.{crt,key}` into `dir`. The server
/// certificate names `localhost`, `127.0.0.1` and every entry of `extra_names` (container IPs).
pub(crate) fn generate(dir: &Path, extra_names: &[String]) -> Result<(ServerFiles, TlsFiles)> {
    let tls = |e: rcgen::Error| Error::Tls(e.to_string());
    fs::create_dir_all(dir).map_err(|e| Error::at("create", dir, e))?;

    let ca_key = KeyPair::generate().map_err(tls)?;
    let mut ca = CertificateParams::new(Vec::<String>::new()).map_err(tls)?;
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "redwire test CA");
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca_cert = ca.self_signed(&ca_key).map_err(tls)?;

    let mut names = vec!["localhost".to_owned(), "127.0.0.1".to_owned()];
    names.extend(extra_names.iter().cloned());
    let issue = |names: Vec<String>,
                 cn: &str,
                 usage: ExtendedKeyUsagePurpose|
     -> Result<(String, String)> {
        let key = KeyPair::generate().map_err(tls)?;
        let mut params = CertificateParams::new(names).map_err(tls)?;
        params.distinguished_name.push(DnType::CommonName, cn);
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        params.extended_key_usages = vec![usage];
        let cert = params.signed_by(&key, &ca_cert, &ca_key).map_err(tls)?;
        Ok((cert.pem(), key.serialize_pem()))
    };
    let (server_cert, server_key) = issue(
        names,
        "redwire test server",
        ExtendedKeyUsagePurpose::ServerAuth,
    )?;
    let (client_cert, client_key) = issue(
        vec!["redwire-test-client".to_owned()],
        "redwire test client",
        ExtendedKeyUsagePurpose::ClientAuth,
    )?;

    let write = |name: &str, text: &str| {
        let path = dir.join(name);
        fs::write(&path, text).map_err(|e| Error::at("write", &path, e))?;
        Ok::<_, Error>(path)
    };
    let ca_path = write("ca.crt", &ca_cert.pem())?;
    let server = ServerFiles {
        ca: ca_path.clone(),
        cert: write("server.crt", &server_cert)?,
        key: write("server.key", &server_key)?,
    };
    let client = TlsFiles {
        ca: ca_path,
        cert: write("client.crt", &client_cert)?,
        key: write("client.key", &client_key)?,
    };
    Ok((server, client))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_files_load_into_a_rustls_client_config() {
        let dir = std::env::temp_dir().join(format!("redwire-certs-{}", std::process::id()));
        let (server, client) = generate(&dir, &["172.30.77.11".to_owned()]).unwrap();
        for path in [
            &server.ca,
            &server.cert,
            &server.key,
            &client.cert,
            &client.key,
        ] {
            assert!(
                fs::read_to_string(path).unwrap().starts_with("-----BEGIN"),
                "{path:?}"
            );
        }
        crate::resp::client_config(&client, true).unwrap();
        crate::resp::client_config(&client, false).unwrap();
        fs::remove_dir_all(&dir).unwrap();
    }
}
