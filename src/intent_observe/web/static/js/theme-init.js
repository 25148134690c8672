// Loaded as a classic script in <head>, before the first paint: a theme chosen with the
// switch applies at once instead of flashing the system theme first.
(function applyStoredTheme() {
  try {
    var theme = localStorage.getItem("intent-observe-theme");
    if (theme === "light" || theme === "dark") document.documentElement.dataset.theme = theme;
  } catch (err) {
    // storage disabled: the system theme applies
  }
})();
