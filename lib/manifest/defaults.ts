/** The release manifest every command reads unless told otherwise (apart from the loader so the CLI names it without loading yaml and ajv). */
export const DEFAULT_MANIFEST = 'release.yaml';
