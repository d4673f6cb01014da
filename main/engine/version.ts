// One place for the engine version recorded in recipes, experiments and model cards.
export const ENGINE_VERSION = '0.1.0'
