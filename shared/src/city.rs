//! City names are matched the way a passenger types them: case and accents do not matter, so
//! "Florianópolis", "FLORIANOPOLIS" and "florianopolis" are one city.

/// The key a city is matched by: lowercase, Latin accents folded, spaces collapsed.
pub fn city_key(name: &str) -> String {
    let mut key = String::with_capacity(name.len());
    for c in name.trim().chars().flat_map(char::to_lowercase) {
        let folded = match c {
            'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' => 'a',
            'ç' => 'c',
            'è' | 'é' | 'ê' | 'ë' => 'e',
            'ì' | 'í' | 'î' | 'ï' => 'i',
            'ñ' => 'n',
            'ò' | 'ó' | 'ô' | 'õ' | 'ö' => 'o',
            'ù' | 'ú' | 'û' | 'ü' => 'u',
            'ý' | 'ÿ' => 'y',
            c if c.is_whitespace() => ' ',
            c => c,
        };
        if folded == ' ' && key.ends_with(' ') {
            continue;
        }
        key.push(folded);
    }
    key
}

#[cfg(test)]
mod tests {
    use super::city_key;

    #[test]
    fn accents_and_case_do_not_matter() {
        assert_eq!(city_key("Florianópolis"), "florianopolis");
        assert_eq!(city_key("  SÃO   Paulo "), "sao paulo");
        assert_eq!(city_key("Goiânia"), city_key("goiania"));
    }
}
