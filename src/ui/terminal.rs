//! The terminal: raw mode and the alternate screen for the console's lifetime, restored on
//! exit, on error and on panic; and a thread that reads key and resize events.
//!
//! Crossterm's `event::read` blocks, so it runs on its own thread and forwards events over a
//! channel; the async runtime's threads never block on the terminal.

use anyhow::Context as _;
use crossterm::event::{self, Event};
use crossterm::execute;
use crossterm::terminal::{disable_raw_mode, enable_raw_mode, EnterAlternateScreen, LeaveAlternateScreen};
use ratatui::backend::CrosstermBackend;
use ratatui::{Frame, Terminal};
use std::io::{self, Stdout};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Once};
use std::thread::JoinHandle;
use std::time::Duration;
use tokio::sync::mpsc;

/// True while the terminal is in raw mode on the alternate screen.
static ACTIVE: AtomicBool = AtomicBool::new(false);
static PANIC_HOOK: Once = Once::new();

/// The terminal in console mode; dropping it restores the terminal.
pub struct Session {
    terminal: Terminal<CrosstermBackend<Stdout>>,
}

impl Session {
    pub fn enter() -> anyhow::Result<Session> {
        install_panic_hook();
        enable_raw_mode().context("cannot put the terminal in raw mode (is stdin a terminal?)")?;
        ACTIVE.store(true, Ordering::SeqCst);
        // From here on, an early return drops nothing that restores: do it by hand.
        let setup = || -> io::Result<Terminal<CrosstermBackend<Stdout>>> {
            execute!(io::stdout(), EnterAlternateScreen)?;
            let mut terminal = Terminal::new(CrosstermBackend::new(io::stdout()))?;
            terminal.hide_cursor()?;
            terminal.clear()?;
            Ok(terminal)
        };
        match setup() {
            Ok(terminal) => Ok(Session { terminal }),
            Err(e) => {
                restore();
                Err(e).context("cannot set up the terminal")
            }
        }
    }

    pub fn draw(&mut self, render: impl FnOnce(&mut Frame)) -> anyhow::Result<()> {
        self.terminal.draw(render).context("cannot draw on the terminal")?;
        Ok(())
    }

    /// Ring the terminal bell (a new alarm).
    pub fn bell(&mut self) -> anyhow::Result<()> {
        use std::io::Write;
        let mut out = io::stdout();
        out.write_all(b"\x07").and_then(|()| out.flush()).context("cannot ring the bell")
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        restore();
    }
}

/// Leave raw mode and the alternate screen, once, ignoring errors (there is nobody to tell).
fn restore() {
    if ACTIVE.swap(false, Ordering::SeqCst) {
        let _ = disable_raw_mode();
        let _ = execute!(io::stdout(), LeaveAlternateScreen, crossterm::cursor::Show);
    }
}

/// Restore the terminal before the previous hook prints the panic, so the message is readable
/// and the shell usable. Installed once per process.
fn install_panic_hook() {
    PANIC_HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            restore();
            previous(info);
        }));
    });
}

/// Terminal events, read on a dedicated thread.
pub struct Events {
    rx: mpsc::UnboundedReceiver<io::Result<Event>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

/// How often the reader thread checks whether it should stop.
const POLL: Duration = Duration::from_millis(200);

impl Events {
    pub fn spawn() -> anyhow::Result<Events> {
        let (tx, rx) = mpsc::unbounded_channel();
        let stop = Arc::new(AtomicBool::new(false));
        let stop_thread = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name("3rc-ui-input".into())
            .spawn(move || {
                while !stop_thread.load(Ordering::SeqCst) {
                    let ev = match event::poll(POLL) {
                        Ok(false) => continue,
                        Ok(true) => event::read(),
                        Err(e) => Err(e),
                    };
                    let failed = ev.is_err();
                    if tx.send(ev).is_err() || failed {
                        break;
                    }
                }
            })
            .context("cannot start the terminal input thread")?;
        Ok(Events { rx, stop, thread: Some(thread) })
    }

    /// The next event; `None` when the reader stopped.
    pub async fn next(&mut self) -> Option<io::Result<Event>> {
        self.rx.recv().await
    }

    /// Stop the reader and wait for it (off the runtime threads), so that it reads nothing
    /// after the terminal is handed back.
    pub async fn shutdown(mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = tokio::task::spawn_blocking(move || thread.join()).await;
        }
    }
}

impl Drop for Events {
    fn drop(&mut self) {
        // On an error path: the thread notices within `POLL` and ends by itself.
        self.stop.store(true, Ordering::SeqCst);
    }
}
