//! A throwaway PostgreSQL server for a test: `initdb` in a temporary folder, `pg_ctl` on a free
//! loopback port, stopped when the guard is dropped (also when the test fails). As root, the
//! server runs as the `postgres` user (it refuses root). When PostgreSQL's programs are not
//! installed, [`Server::start`] returns `None` and the test says that it skipped.

use std::path::PathBuf;
use std::process::Command;

/// The superuser's password: host connections need it (scram-sha-256).
pub const PASSWORD: &str = "pg-secret-password-91c3";

pub struct Server {
    pub port: u16,
    dir: tempfile::TempDir,
    bin: PathBuf,
    root: bool,
}

fn bin_dir() -> Option<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|entry| Some(entry.ok()?.path().join("bin")))
        .filter(|bin| bin.join("initdb").exists() && bin.join("pg_ctl").exists())
        .collect();
    found.sort();
    found.pop()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Server {
    /// Starts a server, or says why not and returns `None`.
    pub fn start(test: &str) -> Option<Server> {
        let Some(bin) = bin_dir() else {
            eprintln!(
                "skipped {test}: PostgreSQL is not installed (apt-get install postgresql; .ci/run does)"
            );
            return None;
        };
        // SAFETY: geteuid has no preconditions.
        #[allow(unsafe_code)]
        let root = unsafe { libc::geteuid() } == 0;
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        std::fs::write(dir.path().join("pwfile"), PASSWORD).unwrap();
        if root {
            let status = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(dir.path())
                .status()
                .unwrap();
            assert!(status.success(), "chown to postgres");
        }
        let server = Server {
            port: free_port(),
            dir,
            bin,
            root,
        };
        let initdb = server
            .command("initdb")
            .arg("-D")
            .arg(&data)
            .args([
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
                "-U",
                "postgres",
            ])
            .arg(format!(
                "--pwfile={}",
                server.dir.path().join("pwfile").display()
            ))
            .output()
            .unwrap();
        assert!(
            initdb.status.success(),
            "initdb: {}",
            String::from_utf8_lossy(&initdb.stderr)
        );
        server.start_server();
        Some(server)
    }

    fn command(&self, program: &str) -> Command {
        if self.root {
            let mut command = Command::new("runuser");
            command
                .args(["-u", "postgres", "--"])
                .arg(self.bin.join(program));
            command
        } else {
            Command::new(self.bin.join(program))
        }
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn start_server(&self) {
        let options = format!(
            "-c listen_addresses=127.0.0.1 -c port={} -c unix_socket_directories={} -c fsync=off",
            self.port,
            self.dir.path().display()
        );
        let started = self
            .command("pg_ctl")
            .arg("-D")
            .arg(self.data())
            .args(["-o", &options, "-w", "-l"])
            .arg(self.dir.path().join("log"))
            .arg("start")
            .output()
            .unwrap();
        assert!(
            started.status.success(),
            "pg_ctl start: {}",
            String::from_utf8_lossy(&started.stderr)
        );
    }

    /// Stops the server at once, as a crash or a lost network would.
    pub fn stop(&self) {
        let _ = self
            .command("pg_ctl")
            .arg("-D")
            .arg(self.data())
            .args(["-m", "immediate", "-w", "stop"])
            .output();
    }

    /// Starts it again after [`Server::stop`].
    pub fn restart(&self) {
        self.start_server();
    }

    /// Turns TLS on with this certificate and key (PEM), and restarts.
    pub fn enable_tls(&self, cert: &str, key: &str) {
        for (name, text) in [("server.crt", cert), ("server.key", key)] {
            let path = self.data().join(name);
            std::fs::write(&path, text).unwrap();
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
            if self.root {
                Command::new("chown")
                    .arg("postgres:postgres")
                    .arg(&path)
                    .status()
                    .unwrap();
            }
        }
        let conf = self.data().join("postgresql.conf");
        let mut text = std::fs::read_to_string(&conf).unwrap();
        text.push_str("\nssl = on\nssl_cert_file = 'server.crt'\nssl_key_file = 'server.key'\n");
        std::fs::write(&conf, text).unwrap();
        self.stop();
        self.restart();
    }

    /// A new database and the URL to reach it as the superuser over TCP (with the password).
    pub fn database(&self, name: &str) -> String {
        let mut client = self.admin();
        client
            .batch_execute(&format!("CREATE DATABASE \"{name}\""))
            .unwrap();
        self.url(name)
    }

    pub fn url(&self, database: &str) -> String {
        format!(
            "postgres://postgres:{PASSWORD}@127.0.0.1:{}/{database}?sslmode=disable",
            self.port
        )
    }

    /// A client on the local socket, as the superuser.
    pub fn admin(&self) -> postgres::Client {
        postgres::Config::new()
            .host_path(self.dir.path())
            .port(self.port)
            .user("postgres")
            .dbname("postgres")
            .connect(postgres::NoTls)
            .unwrap()
    }

    /// A client on the local socket to one database.
    pub fn client(&self, database: &str) -> postgres::Client {
        postgres::Config::new()
            .host_path(self.dir.path())
            .port(self.port)
            .user("postgres")
            .dbname(database)
            .connect(postgres::NoTls)
            .unwrap()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}
