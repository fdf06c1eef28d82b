/**
 * Expands {name} placeholders. An unknown placeholder is an error rather than left in place,
 * because a URL with a literal "{verison}" would only fail later as a confusing 404.
 */
export function expandTemplate(template: string, vars: Readonly<Record<string, string | undefined>>): string {
  return template.replace(/\{([^{}]*)\}/g, (_, key: string) => {
    const value = vars[key];
    if (value === undefined) {
      const known = Object.keys(vars)
        .filter((k) => vars[k] !== undefined)
        .map((k) => `{${k}}`);
      throw new TemplateError(`unknown placeholder {${key}} (known: ${known.join(', ')})`);
    }
    return value;
  });
}

export class TemplateError extends Error {}
