/**
 * A service's settings as a service of their own: `layer` reads them from the environment when it
 * is built, so a missing or malformed variable stops start-up with a message naming it.
 */
import { type Config, Context, Layer } from "effect"

/** `class XConfig extends SettingsService<XConfig>()("dcent/x/XConfig", xConfig) {}` */
export const SettingsService =
  <Self>() =>
  <const Id extends string, Settings>(id: Id, settings: Config.Config<Settings>) => {
    const Key = Context.Service<Self, Settings>()(id)
    return class extends Key {
      static readonly layer: Layer.Layer<Self, Config.ConfigError> = Layer.effect(Key, settings)
    }
  }
