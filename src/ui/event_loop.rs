//! The console's loop: wait for a key, a resize, a snapshot, an injector change, an answer from
//! the app shell or the slow tick; update the app; redraw. Nothing redraws on a fast timer: the
//! slow tick redraws only when something visible changed (a flash expired, time in flight).

use super::app::App;
use super::flash::{Flash, FlashLevel};
use super::terminal::{Events, Session};
use super::{views, UiFeedback, UiOptions, UiRequest};
use crate::core::ClusterView;
use crossterm::event::Event;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, watch};
use tui_logger::TuiWidgetState;

/// Clock for flash expiry and for showing log lines that arrived without a snapshot.
const TICK: Duration = Duration::from_secs(1);

pub async fn run(
    opts: UiOptions,
    mut snapshots: watch::Receiver<Arc<ClusterView>>,
    requests: mpsc::UnboundedSender<UiRequest>,
) -> anyhow::Result<()> {
    let UiOptions { theme, title, mut injector, keymap, readonly, bell, mut feedback, p2v } = opts;
    let first = Arc::clone(&snapshots.borrow_and_update());
    let injector_on = injector.as_mut().map(|rx| *rx.borrow_and_update());
    let mut app = App::new(title, first, injector_on);
    app.set_keymap(keymap, readonly);
    if let Some(wizard) = p2v {
        app.set_p2v(wizard);
    }
    let log_state = TuiWidgetState::new();

    let mut session = Session::enter()?;
    let mut events = Events::spawn()?;
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut snapshots_open = true;
    tracing::debug!("console started");

    let mut dirty = true;
    loop {
        if dirty {
            session.draw(|frame| views::draw(frame, &mut app, &theme, &log_state))?;
        }
        if app.take_bell() && bell {
            session.bell()?;
        }
        if app.should_quit() {
            break;
        }
        dirty = true;
        tokio::select! {
            ev = events.next() => match ev {
                Some(Ok(Event::Key(key))) => {
                    if let Some(request) = app.handle_key(key, Instant::now()) {
                        send(&requests, request, &mut app);
                    }
                    for ev in app.take_log_keys() {
                        log_state.transition(ev);
                    }
                }
                // Resize and the rest: the redraw at the top of the loop is all they need.
                Some(Ok(_)) => {}
                Some(Err(e)) => {
                    return Err(anyhow::Error::new(e).context("cannot read the terminal"));
                }
                None => anyhow::bail!("the terminal input thread stopped"),
            },
            changed = snapshots.changed(), if snapshots_open => match changed {
                Ok(()) => app.set_view(Arc::clone(&snapshots.borrow_and_update())),
                Err(_) => {
                    snapshots_open = false;
                    tracing::warn!("the supervisor stopped sending snapshots");
                    let text = "no more snapshots: the supervisor stopped";
                    app.set_flash(Flash::sticky(FlashLevel::Error, text));
                }
            },
            changed = injector_changed(&mut injector) => match changed {
                Ok(on) => app.set_injector(on),
                Err(_) => {
                    injector = None;
                    let text = "the fault injector went away";
                    app.set_flash(Flash::new(FlashLevel::Warning, text, Instant::now()));
                }
            },
            fb = next_feedback(&mut feedback) => match fb {
                Some(fb) => app.feedback(fb, Instant::now()),
                None => feedback = None,
            },
            _ = tick.tick() => {
                // The log pane and the in-flight timers move with time; the rest only on events.
                dirty = app.tick(Instant::now()) || app.show_log() || app.has_in_flight();
            }
        }
    }
    events.shutdown().await;
    drop(session);
    Ok(())
}

/// The next answer from the app shell; never ready when there is none.
async fn next_feedback(rx: &mut Option<mpsc::UnboundedReceiver<UiFeedback>>) -> Option<UiFeedback> {
    match rx {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

/// The injector's next value; never ready when there is no injector.
async fn injector_changed(rx: &mut Option<watch::Receiver<bool>>) -> Result<bool, watch::error::RecvError> {
    match rx {
        Some(rx) => {
            rx.changed().await?;
            let on = *rx.borrow_and_update();
            Ok(on)
        }
        None => std::future::pending().await,
    }
}

fn send(requests: &mpsc::UnboundedSender<UiRequest>, request: UiRequest, app: &mut App) {
    tracing::info!("console: {request}");
    if requests.send(request).is_err() {
        tracing::error!("the supervisor no longer accepts requests");
        app.set_flash(Flash::sticky(FlashLevel::Error, "request not sent: the supervisor stopped"));
    }
}
