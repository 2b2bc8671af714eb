// The deadline of a call, one number for the tab, the owner and the gateway session, and the two
// margins around it. The contract, for a call with deadline D (the app's `timeoutMs`, else the
// default):
//   D − QUEUED_MARGIN_MS  the owner answers a send still waiting for the gateway with `queued`
//                         (the message stays in the outbox), before…
//   D                     …the gateway session gives up on the call (TimeoutError), and before…
//   D + TAB_MARGIN_MS     …the tab's own timer, which fires only when the owner said nothing at
//                         all (it died, or is stuck): the owner's answer always gets there first.
// So a send ends `queued` rather than timed out, and a tab's TimeoutError means "no owner answer".

/** Default deadline of every call: the reference's session call timeout (spec §1.1). */
export const DEFAULT_DEADLINE_MS = 35_000;
/** How long before the deadline the outbox answers `queued` (worker/delivery/outbox.ts). */
export const QUEUED_MARGIN_MS = 150;
/** How long after the deadline the tab stops waiting for the owner (client-stub). */
export const TAB_MARGIN_MS = 250;
