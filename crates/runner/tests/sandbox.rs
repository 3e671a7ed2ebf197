//! Programs written by models run confined: no environment, a fresh directory, limits, no survivors,
//! no network where namespaces work.

use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

use flowcompile_runner::tools::run_python;
use flowcompile_runner::tools::sandbox::{confinement, Confinement};

fn unique(prefix: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{prefix}_{}_{nanos}", std::process::id())
}

#[tokio::test]
async fn the_environment_is_empty() {
    let name = unique("FLOWCOMPILE_CANARY");
    std::env::set_var(&name, "secret-key");
    let run = run_python(
        &format!("import os\nprint(os.environ.get('{name}', 'absent'))\nprint(len(os.environ))"),
        "",
    )
    .await;
    assert_eq!(run.error, None);
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines[0], "absent");
    // PATH, LANG, HOME and TMPDIR, plus what the shell and interpreter add (PWD, LC_CTYPE, ...).
    assert!(lines[1].parse::<usize>().unwrap() <= 8, "{}", run.stdout);
}

/// On this machine (root, namespaces available) the file system outside the working directory is
/// read-only, so the write fails; without namespaces the user's files are writable and only the
/// fresh, removed working directory is asserted.
#[tokio::test]
async fn files_outside_the_work_directory_stay_untouched() {
    let owned = tempfile::tempdir().unwrap();
    let target = owned.path().join("written.txt");
    let program = format!(
        "import os\nprint(os.getcwd())\ntry:\n    open({:?}, 'w').write('x')\n    print('wrote')\nexcept OSError as e:\n    print('blocked', e)",
        target.to_str().unwrap()
    );
    let run = run_python(&program, "").await;
    assert_eq!(run.error, None);
    let mut lines = run.stdout.lines();
    let cwd = std::path::PathBuf::from(lines.next().unwrap());
    assert_ne!(cwd, std::env::current_dir().unwrap());
    assert!(!cwd.exists(), "work directory {cwd:?} left behind");
    if confinement().await == Confinement::Namespaces {
        assert!(
            lines.next().unwrap().starts_with("blocked"),
            "{}",
            run.stdout
        );
        assert!(!target.exists());
    }
}

#[tokio::test]
async fn a_fork_loop_fails_and_leaves_no_process() {
    let marker = unique("flowcompile_fork_marker");
    let program = format!(
        "import os, time\nmarker = '{marker}'\nfor i in range(1000):\n    if os.fork() == 0:\n        time.sleep(30)\n        os._exit(0)\nfor i in range(1000):\n    os.wait()"
    );
    let run = run_python(&program, "").await;
    assert!(run.error.is_some(), "{run:?}");
    let left = Command::new("pgrep")
        .arg("-f")
        .arg(&marker)
        .output()
        .unwrap();
    assert!(
        left.stdout.is_empty(),
        "processes left: {}",
        String::from_utf8_lossy(&left.stdout)
    );
}

#[tokio::test]
async fn a_huge_allocation_is_a_memory_error() {
    let run = run_python("x = bytearray(10 * 2**30)\nprint(len(x))", "").await;
    let error = run.error.expect("allocation must fail");
    assert!(error.contains("MemoryError"), "{error}");
}

#[tokio::test]
async fn a_normal_program_reads_stdin_and_prints() {
    let run = run_python(
        "import sys\nprint(sum(int(x) for x in sys.stdin.read().split()))",
        "1 2\n39\n",
    )
    .await;
    assert_eq!(run.error, None);
    assert_eq!(run.stdout, "42");
}

#[tokio::test]
async fn no_network_where_namespaces_work() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let program = format!(
        "import socket\ns = socket.create_connection(('127.0.0.1', {port}), timeout=2)\nprint('connected')"
    );
    let run = run_python(&program, "").await;
    if confinement().await == Confinement::Namespaces {
        assert!(run.error.is_some(), "{run:?}");
        assert!(!run.stdout.contains("connected"));
    } else {
        eprintln!("no namespaces here: the network is not isolated");
    }
}
