// Keyboard shortcuts people know from other players: space/k, j/l, arrows, f, m, 0–9.

function editable(target) {
  if (!target || !target.tagName) return false;
  if (target.isContentEditable) return true;
  if (target.tagName === "TEXTAREA" || target.tagName === "SELECT") return true;
  if (target.tagName === "INPUT") return !["range", "button", "checkbox", "radio", "submit"].includes(target.type);
  return false;
}

/** The shortcuts, for docs and the help text: key -> what it does. */
export const SHORTCUTS = {
  "Space / k": "play or pause",
  "j / l": "back / forward 10 s",
  "← / →": "back / forward 5 s",
  "↑ / ↓": "volume up / down",
  f: "full screen",
  m: "mute",
  "0–9": "jump to 0–90 %",
};

/** Act on a keydown for `player`; true when it was a shortcut (and is now handled). */
export function handleKey(player, event) {
  if (event.defaultPrevented || event.ctrlKey || event.metaKey || event.altKey) return false;
  const target = event.target;
  if (editable(target)) return false;
  const key = event.key;
  const onButton = target instanceof HTMLButtonElement;
  if ((key === " " || key === "Enter") && onButton) return false; // the button's own action
  if (target.closest?.(".sf-menu") && key !== "Tab") return false; // the menu's own keys
  if (target.type === "range" && key.startsWith("Arrow")) return false; // the volume slider
  const slider = target.getAttribute?.("role") === "slider";
  switch (key.length === 1 ? key.toLowerCase() : key) {
    case " ":
    case "k":
      player.togglePlay();
      break;
    case "j":
      player.seekBy(-10);
      break;
    case "l":
      player.seekBy(10);
      break;
    case "ArrowLeft":
      player.seekBy(-5);
      break;
    case "ArrowRight":
      player.seekBy(5);
      break;
    case "ArrowUp":
      player.changeVolume(0.05);
      break;
    case "ArrowDown":
      player.changeVolume(-0.05);
      break;
    case "f":
      player.toggleFullscreen();
      break;
    case "m":
      player.toggleMute();
      break;
    case "Home":
      if (!slider) return false;
      player.seek(0);
      break;
    case "End":
      if (!slider) return false;
      player.seekToFraction(1);
      break;
    case "PageUp":
      if (!slider) return false;
      player.seekBy(10);
      break;
    case "PageDown":
      if (!slider) return false;
      player.seekBy(-10);
      break;
    default:
      if (!/^[0-9]$/.test(key)) return false;
      player.seekToFraction(Number(key) / 10);
  }
  event.preventDefault();
  return true;
}

/**
 * Shortcuts work while focus is inside the player, or nowhere in particular (the page
 * body) when this is the page's active player (the last one booted or used).
 */
export function bindKeyboard(player, isActive) {
  const onKey = (event) => {
    const t = event.target;
    const inside = player.root.contains(t);
    const loose = t === document.body || t === document.documentElement || t === document;
    if (inside || (loose && isActive())) handleKey(player, event);
  };
  document.addEventListener("keydown", onKey);
  return () => document.removeEventListener("keydown", onKey);
}
