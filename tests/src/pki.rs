//! Test certificates made with openssl in a directory of the caller's: a private certificate authority and a
//! server certificate it signs for one IP address (a TLS hub the pods reach by that address). Writes files only.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The files of a private CA and of a server certificate signed by it.
#[derive(Debug, Clone)]
pub struct TestPki {
    pub ca_cert: PathBuf,
    pub server_cert: PathBuf,
    pub server_key: PathBuf,
}

fn openssl(args: &[&str], dir: &Path) -> anyhow::Result<()> {
    let output = Command::new("openssl").args(args).current_dir(dir).output()?;
    anyhow::ensure!(
        output.status.success(),
        "openssl {}: {}",
        args.first().copied().unwrap_or_default(),
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(())
}

/// A self-signed CA certificate (PEM, P-256) valid for a day: `<dir>/ca.pem`, its key `<dir>/ca.key`.
pub fn certificate_authority(dir: &Path) -> anyhow::Result<PathBuf> {
    openssl(
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=test hub CA",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
        ],
        dir,
    )?;
    Ok(dir.join("ca.pem"))
}

/// A CA and a server certificate it signs for `ip` (subjectAltName IP), each in `dir`.
pub fn server_for_ip(dir: &Path, ip: &str) -> anyhow::Result<TestPki> {
    let ca_cert = certificate_authority(dir)?;
    openssl(
        &[
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-subj",
            "/CN=test hub",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
        ],
        dir,
    )?;
    std::fs::write(
        dir.join("server.ext"),
        format!("subjectAltName=IP:{ip}\nextendedKeyUsage=serverAuth\nkeyUsage=critical,digitalSignature\n"),
    )?;
    openssl(
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "1",
            "-extfile",
            "server.ext",
            "-out",
            "server.pem",
        ],
        dir,
    )?;
    Ok(TestPki {
        ca_cert,
        server_cert: dir.join("server.pem"),
        server_key: dir.join("server.key"),
    })
}
