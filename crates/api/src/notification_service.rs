//! NotificationService: a person's channels, preferences and inbox, and the live stream of it.

use crate::auth::Caller;
use crate::context::command_context;
use crate::convert;
use crate::error::{invalid_argument, status};
use crate::ledger_service::accept;
use crate::query_service::ReadGate;
use cashflow_app::NotificationCommands;
use cashflow_app::input::{AddChannel, MarkRead, RemoveChannel, SetPreferences};
use cashflow_domain::ValidationError;
use cashflow_domain::notification::ChannelTarget;
use cashflow_projection::CheckpointWatch;
use cashflow_projection_notifications::NotificationQueries;
use cashflow_proto::v1 as pb;
use cashflow_proto::v1::notification_service_server::NotificationService;
use futures::Stream;
use std::collections::HashMap;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};
use uuid::Uuid;

/// Notifications a watch sends per read of the inbox; the rest follow on the next read.
const WATCH_BATCH: u32 = 100;
/// How long a watch waits for the checkpoint before it looks anyway.
const WATCH_POLL: Duration = Duration::from_secs(5);
/// Watches one person may hold open at once (a phone, a few browser tabs); each is a task and
/// a read per checkpoint move, so a client cannot open thousands.
pub const MAX_WATCHES_PER_PERSON: usize = 8;

/// Open watches by person. A [`WatchSlot`] gives its place back when the watch ends.
#[derive(Clone, Default)]
struct Watchers(Arc<Mutex<HashMap<Uuid, usize>>>);

impl Watchers {
    fn take(&self, owner: Uuid) -> Option<WatchSlot> {
        let mut open = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let count = open.entry(owner).or_default();
        if *count >= MAX_WATCHES_PER_PERSON {
            return None;
        }
        *count += 1;
        Some(WatchSlot { watchers: self.clone(), owner })
    }
}

struct WatchSlot {
    watchers: Watchers,
    owner: Uuid,
}

impl Drop for WatchSlot {
    fn drop(&mut self) {
        let mut open = self.watchers.0.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(count) = open.get_mut(&self.owner) {
            *count -= 1;
            if *count == 0 {
                open.remove(&self.owner);
            }
        }
    }
}

/// Resolves once the server drains (or the sender is gone, which means the same).
async fn until_drained(draining: &mut tokio::sync::watch::Receiver<bool>) {
    let _ = draining.wait_for(|draining| *draining).await;
}

type NotificationStream = Pin<Box<dyn Stream<Item = Result<pb::Notification, Status>> + Send>>;

#[derive(Clone)]
pub struct NotificationApi {
    commands: NotificationCommands,
    queries: NotificationQueries,
    gate: ReadGate,
    checkpoints: CheckpointWatch,
    /// `CASHFLOW_WEBHOOK_ALLOW_PRIVATE`: webhook and push targets may be internal addresses.
    allow_private: bool,
    watchers: Watchers,
    /// Becomes true when the server drains: open watches end.
    draining: tokio::sync::watch::Receiver<bool>,
}

impl NotificationApi {
    pub fn new(
        commands: NotificationCommands,
        queries: NotificationQueries,
        gate: ReadGate,
        checkpoints: CheckpointWatch,
        allow_private: bool,
        draining: tokio::sync::watch::Receiver<bool>,
    ) -> Self {
        Self { commands, queries, gate, checkpoints, allow_private, watchers: Watchers::default(), draining }
    }

    fn add_channel_input(&self, request: &pb::AddChannelRequest) -> Result<AddChannel, ValidationError> {
        let command_id = convert::command_id(&request.command_id)?;
        let kind = convert::channel_kind(request.kind)?;
        if request.target.chars().count() > ChannelTarget::MAX_LEN {
            return Err(ValidationError::new("target", format!("at most {} characters", ChannelTarget::MAX_LEN)));
        }
        let target = cashflow_delivery::validate_target(kind, &request.target, self.allow_private)
            .map_err(|error| ValidationError::new("target", error.to_string()))?;
        Ok(AddChannel {
            command_id,
            kind,
            target: ChannelTarget::new("target", target)?,
            topics: convert::topics(&request.topics)?,
        })
    }
}

#[tonic::async_trait]
impl NotificationService for NotificationApi {
    type WatchNotificationsStream = NotificationStream;

    #[tracing::instrument(name = "notifications.add_channel", skip_all, err(level = "info"))]
    async fn add_channel(
        &self,
        request: Request<pb::AddChannelRequest>,
    ) -> Result<Response<pb::AddChannelResponse>, Status> {
        let caller = Caller::of(&request)?;
        let input = self.add_channel_input(request.get_ref()).map_err(|error| invalid_argument(&error))?;
        let context = command_context(caller, request.metadata(), input.command_id);
        let added = self.commands.add_channel(&context, input).await.map_err(status)?;
        Ok(Response::new(pb::AddChannelResponse {
            channel_id: added.channel_id.to_string(),
            signing_secret: added.signing_secret.unwrap_or_default(),
            position: added.position,
        }))
    }

    #[tracing::instrument(name = "notifications.remove_channel", skip_all, err(level = "info"))]
    async fn remove_channel(
        &self,
        request: Request<pb::RemoveChannelRequest>,
    ) -> Result<Response<pb::RemoveChannelResponse>, Status> {
        let (context, input) = accept::<_, RemoveChannel>(request)?;
        let position = self.commands.remove_channel(&context, input).await.map_err(status)?;
        Ok(Response::new(pb::RemoveChannelResponse { position }))
    }

    #[tracing::instrument(name = "notifications.list_channels", skip_all, err(level = "info"))]
    async fn list_channels(
        &self,
        request: Request<pb::ListChannelsRequest>,
    ) -> Result<Response<pb::ListChannelsResponse>, Status> {
        let caller = self.gate.caller_after(&request, request.get_ref().min_position).await?;
        let channels = self.queries.channels(caller.user_id.as_uuid()).await.map_err(status)?;
        Ok(Response::new(pb::ListChannelsResponse {
            channels: channels.into_iter().map(convert::channel_to_proto).collect(),
        }))
    }

    #[tracing::instrument(name = "notifications.set_preferences", skip_all, err(level = "info"))]
    async fn set_preferences(
        &self,
        request: Request<pb::SetPreferencesRequest>,
    ) -> Result<Response<pb::SetPreferencesResponse>, Status> {
        let (context, input) = accept::<_, SetPreferences>(request)?;
        let position = self.commands.set_preferences(&context, input).await.map_err(status)?;
        Ok(Response::new(pb::SetPreferencesResponse { position }))
    }

    #[tracing::instrument(name = "notifications.list", skip_all, err(level = "info"))]
    async fn list_notifications(
        &self,
        request: Request<pb::ListNotificationsRequest>,
    ) -> Result<Response<pb::ListNotificationsResponse>, Status> {
        Caller::of(&request)?;
        let message = request.get_ref();
        if message.page_size > cashflow_projection::MAX_PAGE_SIZE {
            let error = ValidationError::new("page_size", format!("at most {}", cashflow_projection::MAX_PAGE_SIZE));
            return Err(invalid_argument(&error));
        }
        let after = convert::position_page_token(&message.page_token).map_err(|e| invalid_argument(&e))?;
        let caller = self.gate.caller_after(&request, message.min_position).await?;
        let page = self
            .queries
            .list(caller.user_id.as_uuid(), message.unread_only, message.page_size, after)
            .await
            .map_err(status)?;
        Ok(Response::new(pb::ListNotificationsResponse {
            notifications: page.notifications.into_iter().map(convert::notification_to_proto).collect(),
            next_page_token: page.next.map(|cursor| cursor.encode()).unwrap_or_default(),
        }))
    }

    /// Sends each notification raised after the call began, in order, as the read model applies
    /// it; ends when the client leaves. A reconnecting client lists what it missed.
    #[tracing::instrument(name = "notifications.watch", skip_all, err(level = "info"))]
    async fn watch_notifications(
        &self,
        request: Request<pb::WatchNotificationsRequest>,
    ) -> Result<Response<Self::WatchNotificationsStream>, Status> {
        let owner = Caller::of(&request)?.user_id.as_uuid();
        let slot = self.watchers.take(owner).ok_or_else(|| {
            Status::resource_exhausted(format!(
                "at most {MAX_WATCHES_PER_PERSON} watches at once; close one before opening another"
            ))
        })?;
        // The checkpoint is read before the inbox, so nothing applied in between is waited past.
        let mut seen = self.checkpoints.current();
        let mut last = self.queries.newest_position(owner).await.map_err(status)?;
        let (queries, checkpoints) = (self.queries.clone(), self.checkpoints.clone());
        let (sender, receiver) = mpsc::channel(WATCH_BATCH as usize);
        let mut draining = self.draining.clone();
        tokio::spawn(async move {
            let _slot = slot;
            loop {
                tokio::select! {
                    _ = sender.closed() => return,
                    () = until_drained(&mut draining) => {
                        let gone = Status::unavailable("the server is shutting down: reconnect, and list what you missed");
                        let _ = sender.send(Err(gone)).await;
                        return;
                    }
                    _ = checkpoints.wait_for(seen + 1, WATCH_POLL) => {}
                }
                seen = checkpoints.current();
                let fresh = match queries.after(owner, last, WATCH_BATCH).await {
                    Ok(fresh) => fresh,
                    Err(error) => {
                        let _ = sender.send(Err(status(error))).await;
                        return;
                    }
                };
                let full = fresh.len() == WATCH_BATCH as usize;
                for notification in fresh {
                    last = notification.position;
                    if sender.send(Ok(convert::notification_to_proto(notification))).await.is_err() {
                        return;
                    }
                }
                if full {
                    // More are waiting: read again without waiting for the checkpoint.
                    seen = seen.saturating_sub(1);
                }
            }
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(receiver))))
    }

    #[tracing::instrument(name = "notifications.mark_read", skip_all, err(level = "info"))]
    async fn mark_read(&self, request: Request<pb::MarkReadRequest>) -> Result<Response<pb::MarkReadResponse>, Status> {
        let (context, input) = accept::<_, MarkRead>(request)?;
        let position = self.commands.mark_read(&context, input).await.map_err(status)?;
        Ok(Response::new(pb::MarkReadResponse { position }))
    }
}
