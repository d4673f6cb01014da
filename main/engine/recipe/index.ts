// YAML recipes: schema and validation, YAML form, mergekit import.
export { RECIPE_FORMAT, RecipeError, validateRecipe, type Recipe, type RecipeFile, type RecipeModel } from './schema'
export { parseRecipe, serialiseRecipe, parseYaml } from './yaml'
export { importMergekit, MERGEKIT_METHODS, type MergekitImport } from './mergekit'
