/* Runs before the page paints: marks that scripts run, so the phone nav may collapse
 * behind its Menu button (without scripts every link stays visible). */
document.documentElement.classList.add("js");
