/** IVS's global endpoints, as a stage reports them (`endpoints.whip`, `endpoints.events`). */
export const IVS_GLOBAL_WHIP_URL = 'https://global.whip.live-video.net'
export const IVS_GLOBAL_EVENTS_URL = 'wss://global.events.live-video.net'
