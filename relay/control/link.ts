/** What the composition root knows about its link to the API server. */
export interface LinkState {
  readonly apiServerUrl: string
  /** The API server accepted POST /api/media/register (and has not since answered 404 to a heartbeat). */
  readonly registered: boolean
  /** The `/ws?type=media-server` event socket is open. */
  readonly following: boolean
  /** Why the last registration attempt failed (null once registered). */
  readonly lastRegistrationError: string | null
}

/** The mutable side of LinkState, written by the registration (control/registration.ts) as registration and the event socket change. */
export class ControlLink implements LinkState {
  registered = false
  following = false
  lastRegistrationError: string | null = null

  constructor(readonly apiServerUrl: string) {}

  markRegistered(): void {
    this.registered = true
    this.lastRegistrationError = null
  }

  /** A registration attempt failed, or the API server no longer knows this relay. */
  markUnregistered(reason: string): void {
    this.registered = false
    this.lastRegistrationError = reason
  }

  markFollowing(open: boolean): void {
    this.following = open
  }
}
