#!/usr/bin/env bash
# Exports a commit's services (or, with `worktree`, the work tree as it is now: tracked and
# untracked files, not ignored ones) into a directory the chaos suite can run them from
# (`CHAOS_CODE_ROOT=$(bash test/chaos/snapshot.sh HEAD) node test/chaos/run.ts`): a fixed version
# while the work tree changes. Reads git only; node_modules are linked from the work tree, except
# the workspace's own packages (@dcent/*), which point into the snapshot.
set -euo pipefail
ref="${1:-HEAD}"
root="$(git rev-parse --show-toplevel)"
if [[ "$ref" == worktree ]]; then
  commit="worktree-$(date +%s)"
else
  commit="$(git -C "$root" rev-parse --short "$ref")"
fi
dest="${CHAOS_SNAPSHOT_DIR:-/tmp/dcent-chaos-snapshot}/$commit"
if [[ ! -f "$dest/.complete" ]]; then
  rm -rf "$dest"
  mkdir -p "$dest/node_modules/@dcent"
  if [[ "$ref" == worktree ]]; then
    (cd "$root" && git ls-files -z --cached --others --exclude-standard | xargs -0 -I{} sh -c '[ -e "{}" ] && printf "%s\0" "{}"' | tar -c --null -T - -f -) | tar -x -C "$dest"
  else
    git -C "$root" archive "$ref" | tar -x -C "$dest"
  fi
  cp -r "$root/shared/src/generated" "$dest/shared/src/generated"
  for entry in "$root"/node_modules/* "$root"/node_modules/.bin; do
    name="$(basename "$entry")"
    [[ "$name" == "@dcent" ]] || ln -s "$entry" "$dest/node_modules/$name"
  done
  for pkg in shared processor requestor; do ln -s "../../$pkg" "$dest/node_modules/@dcent/$pkg"; done
  touch "$dest/.complete"
fi
echo "$dest/"
